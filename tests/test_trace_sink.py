"""``OpenTelemetrySink``: spans, parents, links, statuses and attributes, on the real SDK."""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanContext, StatusCode, Tracer

import aiodag
from aiodag import Run, TaskStatus, task
from aiodag.analysis import attempt_count
from aiodag.demo import etl_pipeline
from aiodag.events import RunFinished, TaskFinished, TaskStarted, to_wall_ns
from aiodag.labels import short_repr
from aiodag.trace import OpenTelemetrySink, configure
from aiodag.trace import attributes as attr
from aiodag.trace.stored import load_run


class Boom(Exception):
    """An error raised by a task."""


@task
async def sleep_then(value: Any, delay: float = 0.0) -> Any:
    await asyncio.sleep(delay)
    return value


@task
async def add(a: int, b: int) -> int:
    return a + b


@task
async def pair(a: object, b: object) -> tuple[object, object]:
    return a, b


@task
async def fail(message: str) -> int:
    await asyncio.sleep(0.005)
    raise Boom(message)


class OpenSpans(SpanProcessor):
    """A span processor that knows which spans were started and not yet ended."""

    def __init__(self) -> None:
        self.open: set[int] = set()
        self.started = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.open.add(span.context.span_id)
        self.started += 1

    def on_end(self, span: ReadableSpan) -> None:
        self.open.discard(span.context.span_id)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def open_spans() -> OpenSpans:
    return OpenSpans()


@pytest.fixture
def provider(exporter: InMemorySpanExporter, open_spans: OpenSpans) -> Iterator[TracerProvider]:
    # An explicit provider: the global one can be set only once per process.
    provider = TracerProvider()
    provider.add_span_processor(open_spans)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def sink(provider: TracerProvider) -> OpenTelemetrySink:
    return OpenTelemetrySink(provider)


@pytest.fixture
def tracer(provider: TracerProvider) -> Tracer:
    return provider.get_tracer("tests")


def by_task(exporter: InMemorySpanExporter) -> dict[int, ReadableSpan]:
    """The exported task spans by task id (and only those)."""
    spans = {}
    for span in exporter.get_finished_spans():
        assert span.attributes is not None
        if attr.TASK_ID in span.attributes:
            task_id = span.attributes[attr.TASK_ID]
            assert isinstance(task_id, int) and task_id not in spans
            spans[task_id] = span
    return spans


def the_span(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    """The one exported span called ``name``."""
    found = [s for s in exporter.get_finished_spans() if s.name == name]
    assert len(found) == 1, [s.name for s in exporter.get_finished_spans()]
    return found[0]


def sid(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def links(span: ReadableSpan) -> list[tuple[int, object]]:
    """(upstream span id, dependency kind) per link, in order (no kind: data)."""
    return [
        (link.context.span_id, (link.attributes or {}).get(attr.DEPENDENCY_KIND, "data"))
        for link in span.links
    ]


def attributes(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


# -- spans and parents -----------------------------------------------------------------

async def test_a_run_gives_one_span_for_the_run_and_one_per_task(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """The ETL demo: the run's span and 14 task spans named by task, all in one trace."""
    async with Run("etl", sinks=[sink]):
        etl_pipeline(0.01)
    spans = exporter.get_finished_spans()
    run_span = the_span(exporter, "etl")
    tasks = [s for s in spans if s is not run_span]
    assert len(spans) == 15
    assert Counter(s.name for s in tasks) == {
        "fetch": 6, "concatenate": 4, "strip_numbers": 3, "upload": 1
    }
    assert run_span.parent is None  # nothing was current when the run began
    assert {parent_id(s) for s in tasks} == {sid(run_span)}
    assert {s.context.trace_id for s in spans if s.context} == {run_span.context.trace_id}


async def test_task_span_attributes_and_times_match_the_runs_record(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """id, label, wait_s and the wait breakdown, and no status attribute (an ok task's
    span has none); the span covers the body's execution."""
    async with Run("etl", sinks=[sink]) as run:
        etl_pipeline(0.01)
    spans = by_task(exporter)
    assert sorted(spans) == sorted(r.id for r in run.tasks)
    for record in run.tasks:
        span = spans[record.id]
        assert span.name == record.name
        expected = {
            attr.TASK_ID: record.id,
            attr.TASK_LABEL: record.label,
            attr.TASK_WAIT_S: record.wait,
            attr.TASK_LOOP_WAIT_S: record.loop_wait,
        }
        if record.released_by is not None:
            expected[attr.TASK_RELEASED_BY] = record.released_by
        assert attributes(span) == expected
        assert record.started_ns is not None and record.finished_ns is not None
        assert span.start_time == to_wall_ns(record.started_ns, run.anchor)
        assert span.end_time == to_wall_ns(record.finished_ns, run.anchor)
    run_span = the_span(exporter, "etl")
    assert run_span.start_time == run.anchor.wall_ns
    assert run_span.end_time is not None
    assert run_span.end_time >= max(s.end_time or 0 for s in spans.values())
    assert attributes(run_span)[attr.RUN_ID] == run.id


async def test_a_run_span_is_a_child_of_the_span_current_when_the_run_began(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter, tracer: Tracer
) -> None:
    """Run span under the surrounding span; task spans under the run's span."""
    with tracer.start_as_current_span("outer"):
        async with Run("inner", sinks=[sink]):
            add(1, 2)
    outer, run_span = the_span(exporter, "outer"), the_span(exporter, "inner")
    assert parent_id(run_span) == sid(outer)
    assert parent_id(the_span(exporter, "add")) == sid(run_span)


async def test_outside_a_run_the_parent_is_the_span_current_at_the_call(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter, tracer: Tracer
) -> None:
    """Captured at the call: the caller's span has ended before the task starts."""

    @task
    async def probe(caller: trace.Span) -> bool:
        return caller.is_recording()

    aiodag.add_sink(sink)
    with tracer.start_as_current_span("caller") as caller_span:
        handle = probe(caller_span)
    with tracer.start_as_current_span("elsewhere"):
        assert await handle is False  # the caller's span had ended when the body ran
        orphan = sleep_then(2)
    unparented = sleep_then(3)
    await asyncio.gather(orphan, unparented)
    caller, elsewhere = the_span(exporter, "caller"), the_span(exporter, "elsewhere")
    spans = by_task(exporter)
    assert parent_id(spans[handle.id]) == sid(caller)
    assert parent_id(spans[orphan.id]) == sid(elsewhere)
    assert spans[unparented.id].parent is None  # a root span: no span was current
    assert attr.RUN_NAME not in attributes(spans[handle.id])


async def test_the_task_span_is_current_while_the_body_runs(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter, tracer: Tracer
) -> None:
    """Spans made inside a body, async or in the executor, nest under the task's span."""
    seen: dict[str, SpanContext] = {}

    @task
    async def body() -> None:
        seen["async"] = trace.get_current_span().get_span_context()
        with tracer.start_as_current_span("http-call"):
            await asyncio.sleep(0)

    @task
    def blocking() -> None:
        seen["sync"] = trace.get_current_span().get_span_context()

    async with Run("current", sinks=[sink]):
        body()
        blocking()
    assert seen["async"] == the_span(exporter, "body").context
    assert seen["sync"] == the_span(exporter, "blocking").context
    assert parent_id(the_span(exporter, "http-call")) == sid(the_span(exporter, "body"))
    # ... and only there: the caller's context is untouched.
    assert trace.get_current_span() is trace.INVALID_SPAN


# -- links -----------------------------------------------------------------------------

async def test_one_link_per_dependency_to_the_upstream_span_with_its_kind(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """Every edge of the DAG is a link, so the DAG can be rebuilt from the trace."""
    async with Run("etl", sinks=[sink]) as run:
        etl_pipeline(0.01)
    spans = by_task(exporter)
    for record in run.tasks:
        assert links(spans[record.id]) == [
            (sid(spans[upstream]), kind.value) for upstream, kind in record.deps
        ]
    assert sum(len(s.links) for s in spans.values()) == 14  # the ETL DAG's edges


async def test_exogenous_dependencies_are_links_of_kind_exogenous(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """task(fn, ready)(x): x is a data dependency, ready an exogenous one."""
    async with Run("exo", sinks=[sink]):
        ready = sleep_then(0)
        x = sleep_then(1)
        result = task(add, ready)(x, 2)
    spans = by_task(exporter)
    assert links(spans[result.id]) == [
        (sid(spans[x.id]), "data"), (sid(spans[ready.id]), "exogenous")
    ]


async def test_a_task_called_after_its_upstream_finished_is_linked_to_it(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """The upstream's span context is kept while its handle lives, however long ago."""
    aiodag.add_sink(sink)
    upstream = sleep_then(1)
    await upstream
    await asyncio.sleep(0.01)
    gc.collect()
    downstream = add(upstream, 1)
    await downstream
    spans = by_task(exporter)
    assert links(spans[downstream.id]) == [(sid(spans[upstream.id]), "data")]


async def test_what_the_sink_keeps_of_a_task_goes_with_its_handle(
    sink: OpenTelemetrySink,
) -> None:
    """Nothing is kept for a finished task nobody can reference any more."""
    aiodag.add_sink(sink)
    handle = sleep_then(1)
    await handle
    assert repr(sink) == "<OpenTelemetrySink runs=0 tasks=1>"
    del handle
    await asyncio.sleep(0)
    gc.collect()
    assert repr(sink) == "<OpenTelemetrySink runs=0 tasks=0>"


async def test_in_a_run_an_upstream_whose_handle_went_before_its_dependent_started_is_linked(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """The sink keeps nothing of a run's task before it starts (its record has what the
    span needs), so an upstream's span context must outlive its handle until the run
    ends: here no handle but the last is kept, and each goes as its dependent starts."""
    async with Run("chain", sinks=[sink]) as run:
        last = add(add(add(sleep_then(1), 1), 1), 1)
        assert await last == 4
        gc.collect()
    spans = by_task(exporter)
    ids = [record.id for record in run.tasks]
    assert sorted(spans) == ids
    for upstream, dependent in itertools.pairwise(ids):
        assert links(spans[dependent]) == [(sid(spans[upstream]), "data")]
    del last
    gc.collect()
    # Kept until the run ended, for dependents in it; then nothing.
    assert repr(sink) == "<OpenTelemetrySink runs=0 tasks=0>"


async def test_a_task_of_a_run_is_linked_to_upstreams_outside_it(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """An upstream of another run, or outside any run, is held at the call as before."""
    async with Run("first", sinks=[sink]):
        earlier = sleep_then(1)
    aiodag.add_sink(sink)
    outside = sleep_then(2, delay=0.01)
    async with Run("second", sinks=[sink]):
        both = add(earlier, outside)
        assert await both == 3
    spans = by_task(exporter)
    assert links(spans[both.id]) == [
        (sid(spans[earlier.id]), "data"), (sid(spans[outside.id]), "data")
    ]
    assert parent_id(spans[both.id]) == sid(the_span(exporter, "second"))


async def test_upstreams_called_before_the_sink_was_added_are_tolerated(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    """A global sink added late records what it sees, never raises, stays enabled."""
    before = sleep_then(1, delay=0.01)
    aiodag.add_sink(sink)
    after = add(before, 1)
    assert await after == 2
    later = add(after, 1)
    await later
    spans = by_task(exporter)
    assert sorted(spans) == [after.id, later.id]
    assert links(spans[after.id]) == []  # its upstream is unknown to the sink
    assert links(spans[later.id]) == [(sid(spans[after.id]), "data")]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_events_of_unknown_tasks_and_runs_are_ignored(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """Events for ids the sink never saw created make no span and raise nothing."""
    sink(TaskStarted(10**9, 0))
    sink(TaskFinished(10**9, TaskStatus.OK, None, None, 1))
    sink(RunFinished(Run("never-entered"), 2))
    assert exporter.get_finished_spans() == ()


async def test_the_same_sink_global_and_in_a_run_records_each_span_once(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """A sink given twice receives every event twice; it makes each span once."""
    aiodag.add_sink(sink)
    async with Run("twice", sinks=[sink]):
        add(1, 2)
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["add", "twice"]


# -- failures and cancellation ---------------------------------------------------------

async def test_a_failed_task_has_error_status_and_the_exception_as_an_event(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """Status ERROR with "type: message", and an "exception" span event."""
    async with Run("f", sinks=[sink], raise_errors=False):
        failing = fail("disk full")
    span = by_task(exporter)[failing.id]
    assert attributes(span)[attr.TASK_STATUS] == "failed"
    assert attr.TASK_WAIT_S in attributes(span)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "Boom: disk full"
    [event] = span.events
    assert event.name == "exception"
    assert dict(event.attributes or {})["exception.type"] == f"{__name__}.Boom"
    assert dict(event.attributes or {})["exception.message"] == "disk full"
    assert event.timestamp == span.end_time


async def test_an_upstream_failed_span_is_zero_length_and_names_the_failed_upstream(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """The task that never ran still has its span, status and links."""
    async with Run("f", sinks=[sink], raise_errors=False) as run:
        failing = fail("x")
        skipped = add(failing, 1)
    spans = by_task(exporter)
    span = spans[skipped.id]
    finished_ns = run.task(skipped.id).finished_ns
    assert finished_ns is not None
    assert span.start_time == span.end_time == to_wall_ns(finished_ns, run.anchor)
    found = attributes(span)
    assert found[attr.TASK_STATUS] == "upstream_failed"
    assert found[attr.TASK_FAILED_UPSTREAM] == failing.id
    assert attr.TASK_WAIT_S not in found  # it never started
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == (
        f"add#{skipped.id} did not run: its upstream fail#{failing.id} failed"
    )
    assert [e.name for e in span.events] == ["exception"]
    assert links(span) == [(sid(spans[failing.id]), "data")]
    assert parent_id(span) == sid(the_span(exporter, "f"))


async def test_a_task_stopped_while_another_upstream_waits_links_every_upstream(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """Its span waits for the pending upstream's span, so no edge of the DAG is lost."""
    async with Run("f", sinks=[sink], raise_errors=False) as run:
        slow = sleep_then(1, delay=0.05)
        pending = add(slow, 1)  # still waiting when `stopped` ends
        failing = fail("x")
        stopped = pair(failing, pending)
    spans = by_task(exporter)
    assert run.task(stopped.id).finished_ns is not None
    assert run.task(stopped.id).finished < run.task(pending.id).started  # type: ignore[operator]
    assert links(spans[stopped.id]) == [
        (sid(spans[failing.id]), "data"), (sid(spans[pending.id]), "data")
    ]
    assert attributes(spans[stopped.id])[attr.TASK_STATUS] == "upstream_failed"
    assert len(spans) == 4


async def test_cancelling_a_run_ends_every_span_and_records_the_whole_dag(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter, open_spans: OpenSpans
) -> None:
    """No span leaks; running and waiting tasks both get spans with status cancelled."""
    handles: list[aiodag.TaskHandle[Any]] = []

    async def pipeline() -> None:
        async with Run("cancelled", sinks=[sink]):
            running = sleep_then(1, delay=10)
            handles.extend([running, add(running, 1)])
            await asyncio.sleep(10)

    outer = asyncio.create_task(pipeline())
    await asyncio.sleep(0.02)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    running, waiting = handles
    spans = by_task(exporter)
    assert open_spans.started == 3 and open_spans.open == set()
    assert attributes(spans[running.id])[attr.TASK_STATUS] == "cancelled"
    assert attr.TASK_WAIT_S in attributes(spans[running.id])  # it had started
    assert attributes(spans[waiting.id])[attr.TASK_STATUS] == "cancelled"
    assert spans[waiting.id].start_time == spans[waiting.id].end_time
    assert links(spans[waiting.id]) == [(sid(spans[running.id]), "data")]
    # Cancellation is not an error of the task.
    assert spans[running.id].status.status_code is StatusCode.UNSET
    run_span = the_span(exporter, "cancelled")
    assert attributes(run_span)[attr.RUN_TASK_COUNTS[TaskStatus.CANCELLED]] == 2


async def test_a_task_cancelled_before_its_first_step_keeps_the_callers_parent(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter, tracer: Tracer
) -> None:
    """Its end is reported from a done-callback, outside its context: still right."""
    aiodag.add_sink(sink)
    with tracer.start_as_current_span("caller"):
        handle = sleep_then(1)
        handle.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handle
    span = by_task(exporter)[handle.id]
    assert parent_id(span) == sid(the_span(exporter, "caller"))
    assert attributes(span)[attr.TASK_STATUS] == "cancelled"
    assert span.start_time == span.end_time
    assert trace.get_current_span() is trace.INVALID_SPAN


async def test_an_exception_whose_str_raises_is_still_recorded(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """A hostile exception cannot break the sink: the next task gets its span too."""

    class Hostile(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

    @task
    async def hostile() -> None:
        raise Hostile

    async with Run("h", sinks=[sink], raise_errors=False):
        bad = hostile()
        await asyncio.sleep(0.01)
        good = add(1, 2)
    spans = by_task(exporter)
    assert spans[bad.id].status.description == "Hostile: <Hostile>"
    assert [e.name for e in spans[bad.id].events] == ["exception"]
    assert attr.TASK_STATUS not in attributes(spans[good.id])  # ok: no status attribute
    assert spans[good.id].status.status_code is StatusCode.UNSET


# -- the run span ----------------------------------------------------------------------

async def test_the_run_span_carries_the_timing_analysis(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """Makespan, critical path (labels in order, seconds) and counts per status."""
    async with Run("etl", sinks=[sink]) as run:
        etl_pipeline(0.01)
    path = run.critical_path()
    assert path[0].label == "fetch('c1')"
    found = attributes(the_span(exporter, "etl"))
    assert found[attr.RUN_MAKESPAN_S] == run.makespan
    assert found[attr.RUN_CRITICAL_PATH] == tuple(r.label for r in path)
    assert found[attr.RUN_CRITICAL_PATH_LENGTH] == 4
    assert found[attr.RUN_CRITICAL_PATH_S] == sum(r.duration or 0.0 for r in path)
    assert found[attr.RUN_TASKS] == 14
    assert {key: found[key] for key in attr.RUN_TASK_COUNTS.values()} == {
        "aiodag.run.tasks.ok": 14,
        "aiodag.run.tasks.failed": 0,
        "aiodag.run.tasks.cancelled": 0,
        "aiodag.run.tasks.upstream_failed": 0,
    }
    assert the_span(exporter, "etl").status.status_code is StatusCode.UNSET


async def test_a_run_with_a_failed_task_has_an_error_status(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """The run span says how many tasks failed."""
    async with Run("bad", sinks=[sink], raise_errors=False):
        add(fail("x"), 1)
    run_span = the_span(exporter, "bad")
    assert run_span.status.status_code is StatusCode.ERROR
    assert run_span.status.description == "1 task failed"
    found = attributes(run_span)
    assert found["aiodag.run.tasks.failed"] == 1
    assert found["aiodag.run.tasks.upstream_failed"] == 1


async def test_a_long_critical_path_is_bounded_but_keeps_both_ends(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """A chain of 150 tasks: 100 labels kept, the first and the last among them."""
    async with Run("chain", sinks=[sink]):
        handle = sleep_then(0)
        for _ in range(149):
            handle = add(handle, 1)
    found = attributes(the_span(exporter, "chain"))
    labels = found[attr.RUN_CRITICAL_PATH]
    assert isinstance(labels, tuple) and len(labels) == attr.MAX_CRITICAL_PATH
    assert labels[0] == "sleep_then(0)" and labels[-1] == f"add(add#{handle.id - 1}, 1)"
    assert "…" in labels
    assert found[attr.RUN_CRITICAL_PATH_LENGTH] == 150


# -- arguments -------------------------------------------------------------------------

async def test_arguments_are_not_recorded_by_default(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """Arguments can hold secrets: off unless asked for."""
    async with Run("quiet", sinks=[sink]):
        sleep_then("hunter2", delay=0)
    found = attributes(the_span(exporter, "sleep_then"))
    assert attr.TASK_ARGS not in found and attr.TASK_KWARGS not in found


async def test_captured_arguments_are_shortened_and_bounded(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """capture_args=True: shortened reprs, at most MAX_ARGS, each at most MAX_ARG_LENGTH."""

    @task
    async def many(*args: object, **kwargs: object) -> None:
        pass

    sink = OpenTelemetrySink(provider, capture_args=True)
    async with Run("args", sinks=[sink]):
        first = sleep_then("x" * 500, delay=0)
        many(first, *range(40), **{"k" * 300: 1})
    spans = {s.name: attributes(s) for s in exporter.get_finished_spans()}
    assert spans["sleep_then"][attr.TASK_ARGS] == (short_repr("x" * 500),)
    assert spans["sleep_then"][attr.TASK_KWARGS] == ("delay=0",)
    args, kwargs = spans["many"][attr.TASK_ARGS], spans["many"][attr.TASK_KWARGS]
    assert isinstance(args, tuple) and isinstance(kwargs, tuple)
    assert args[:3] == (f"sleep_then#{first.id}", "0", "1")
    assert len(args) == attr.MAX_ARGS
    assert all(isinstance(a, str) and len(a) <= attr.MAX_ARG_LENGTH for a in (*args, *kwargs))
    assert kwargs[0].startswith("kkkk") and kwargs[0].endswith("…")


# -- construction ----------------------------------------------------------------------

def test_a_provider_that_is_not_one_is_refused_with_the_fix() -> None:
    """The error names the bad value and what to pass instead."""
    with pytest.raises(TypeError, match=r"got 'jaeger'; pass e\.g\. aiodag\.trace\.configure"):
        OpenTelemetrySink("jaeger")  # type: ignore[arg-type]


def test_without_a_provider_the_sink_follows_the_global_one() -> None:
    """In a fresh process: a sink made before the provider is installed still uses it."""
    script = textwrap.dedent("""
        import asyncio
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
        import aiodag
        from aiodag.trace import OpenTelemetrySink

        sink = OpenTelemetrySink()
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)

        @aiodag.task
        async def hello():
            return 1

        async def main():
            async with aiodag.Run("global", sinks=[sink]):
                hello()

        asyncio.run(main())
        print(sorted(span.name for span in exporter.get_finished_spans()))
    """)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['global', 'hello']"


async def test_an_unsampled_run_costs_no_spans_and_breaks_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With a sampler saying no, spans are non-recording; the sink copes."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with Run("unsampled", sinks=[OpenTelemetrySink(provider)], raise_errors=False):
        etl_pipeline(0.01)
        add(fail("x"), 1)
    provider.shutdown()
    assert exporter.get_finished_spans() == ()
    assert not [r for r in caplog.records if "disabled" in r.getMessage()]


async def test_a_run_whose_failures_were_all_handled_is_not_an_error_run(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    """Its span status follows the run's outcome (the command exits 0 for it), and it
    counts the handled failures; the failed tasks' own spans stay errors."""
    calls = []

    @task
    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("try again")
        return "data"

    @task
    async def robust() -> str:
        for _ in range(3):
            try:
                return await flaky()
            except ConnectionError:
                continue
        raise RuntimeError("gave up")

    async with Run("retry", sinks=[sink]) as run:
        robust()
    assert run.failures == []
    [run_span] = [s for s in exporter.get_finished_spans() if s.name == "retry"]
    assert run_span.status.status_code is not StatusCode.ERROR
    assert attributes(run_span)[attr.RUN_FAILURES_HANDLED] == 2
    failed = [s for s in exporter.get_finished_spans()
              if attributes(s).get(attr.TASK_STATUS) == "failed"]
    assert len(failed) == 2 and all(s.status.status_code is StatusCode.ERROR for s in failed)


async def test_a_dependent_called_after_a_task_that_never_ran_links_to_its_span() -> None:
    """The engine reports a task's end from a done-callback: the sink reaches the handle
    through aiodag.ending.settling(), not asyncio.current_task() (which is no task there),
    so a dependent called later still gets the DAG's edge."""
    from aiodag.trace import OpenTelemetrySink
    from aiodag.trace import attributes as attr

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    @task
    async def boom() -> int:
        await asyncio.sleep(0.01)
        raise ValueError("x")

    @task
    async def dep(x: int) -> int:
        return x

    async with Run("t", sinks=[OpenTelemetrySink(provider)], raise_errors=False):
        never_ran = dep(boom())  # upstream_failed
        await asyncio.sleep(0.05)
        late = dep(never_ran)  # called after it ended
    spans = {s.attributes.get(attr.TASK_ID): s for s in exporter.get_finished_spans()}
    assert never_ran.id in spans and late.id in spans
    assert [link.context.span_id for link in spans[late.id].links] == [
        spans[never_ran.id].context.span_id]


# Attempts of retried tasks, counted alike by a run and by its trace read back ---------

class Flaky(Exception):
    """Fails an attempt."""


async def cancels_at_every_stage(*sinks: Any) -> tuple[Run, dict[str, Any]]:
    """A run whose retried tasks end every way (returned, failed, cancelled while
    waiting to retry, cancelled while a retry ran, cancelled in their first attempt);
    returns the run and the handles by scenario."""
    second_runs = asyncio.Event()
    first_failed: dict[str, asyncio.Event] = {}
    calls: dict[str, int] = {}

    def fails_first(key: str, then: str, delay: float = 0.001) -> Any:
        first_failed[key] = asyncio.Event()

        @task(name=key, retries=3, retry_delay=delay)
        async def body() -> str:
            calls[key] = calls.get(key, 0) + 1
            if calls[key] == 1 or then == "fail":
                first_failed[key].set()
                raise Flaky(key)
            if then == "hang":
                second_runs.set()
                await asyncio.sleep(30)
            return key

        return body

    @task(timeout=30)
    async def hangs_first() -> None:
        await asyncio.sleep(30)

    async with Run("attempts", raise_errors=False, sinks=list(sinks)) as run:
        handles = {
            "ok": fails_first("ok", "return")(),
            "failed": fails_first("failed", "fail")(),
            "cut_waiting": fails_first("cut_waiting", "return", delay=30)(),
            "cut_running": fails_first("cut_running", "hang")(),
            "cut_first": hangs_first(),
        }
        await asyncio.wait_for(first_failed["cut_waiting"].wait(), 10)
        handles["cut_waiting"].cancel()
        await asyncio.wait_for(second_runs.wait(), 10)
        handles["cut_running"].cancel()
        handles["cut_first"].cancel()
    return run, handles


def test_live_and_stored_runs_count_the_attempts_that_ran(tmp_path: Path) -> None:
    """A run's records and the same run read back from its trace agree on how many
    times each body ran: a retry cancelled before it ran does not count, one cancelled
    while it ran does."""
    path = tmp_path / "trace.jsonl"
    provider = configure("tests", file=path, install=False)

    run, handles = asyncio.run(cancels_at_every_stage(OpenTelemetrySink(provider)))
    provider.shutdown()
    live = {key: attempt_count(run.task(h.id)) for key, h in handles.items()}
    assert live == {"ok": 2, "failed": 4, "cut_waiting": 1, "cut_running": 2,
                    "cut_first": 1}
    cut = run.task(handles["cut_running"].id).attempts[-1]
    assert isinstance(cut.error, asyncio.CancelledError)
    stored = {t.id: t for t in load_run(path).tasks}
    # (A trace says nothing of a body that ran once: 0 there.)
    assert {key: max(1, attempt_count(stored[h.id])) for key, h in handles.items()} == live


def test_a_retry_cancelled_while_queued_for_a_thread_never_ran() -> None:
    """A plain function's retry cancelled while its call waits for a worker of the pool
    did not run: it is no attempt, live or in the trace, and the task started with its
    first attempt; a task cancelled before its only call reached a worker never started."""
    pool = ThreadPoolExecutor(max_workers=1)
    ran, holding, release = threading.Event(), threading.Event(), threading.Event()
    calls = 0

    def flaky() -> int:
        nonlocal calls
        calls += 1
        ran.set()
        if calls == 1:
            raise Flaky("once")
        return calls

    def hold_the_worker() -> None:
        holding.set()
        release.wait(10)

    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))

    async def main() -> tuple[Run, Any, Any]:
        async with Run("queued", raise_errors=False,
                       sinks=[OpenTelemetrySink(provider)]) as run:
            retried = task(flaky, retries=2, retry_delay=0.3, executor=pool)()
            await asyncio.to_thread(ran.wait, 10)
            task(hold_the_worker, executor=pool)()  # queued before the retry's call
            await asyncio.to_thread(holding.wait, 10)  # the one worker is taken now
            never = task(lambda: 1, timeout=10, executor=pool)()
            await asyncio.sleep(0.6)  # the retry's call is queued too
            retried.cancel()
            never.cancel()
            # Once they have ended, their calls are out of the pool's queue.
            await asyncio.wait([retried, never], timeout=10)
            release.set()
        return run, retried, never

    try:
        run, retried, never = asyncio.run(main())
    finally:
        pool.shutdown()
    assert calls == 1
    record = run.task(retried.id)
    assert [a.number for a in record.attempts] == [1]
    assert record.started is not None  # it did start: with its first attempt
    assert run.task(never.id).attempts == () and run.task(never.id).started is None
    spans = {(s.attributes or {}).get(attr.TASK_ID): s for s in memory.get_finished_spans()}
    assert attr.TASK_ATTEMPTS not in (spans[retried.id].attributes or {})  # ran once


def test_a_task_cancelled_while_waiting_to_retry_keeps_no_argument_alive() -> None:
    """The failed attempt's traceback, kept in the run's record, does not keep the
    task's arguments alive once the task was cancelled while waiting to retry."""

    class Value:
        """Something that can be watched going."""

    async def main() -> Run:
        failed_once = asyncio.Event()

        @task(retries=2, retry_delay=30)
        async def cut_while_waiting(value: Value, *, key: Value) -> None:
            failed_once.set()
            raise Flaky("again")

        async with Run("kept", raise_errors=False) as run:
            cut = cut_while_waiting(Value(), key=Value())
            await asyncio.wait_for(failed_once.wait(), 10)
            cut.cancel()
        return run

    run = asyncio.run(main())
    gc.collect()
    assert [obj for obj in gc.get_objects() if type(obj) is Value] == []
    (record,) = run.tasks
    assert [a.number for a in record.attempts] == [1]  # (the record is still there)
