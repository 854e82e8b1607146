"""Retries, timeouts, limits and outcomes as traces and drawings show them: the real
OpenTelemetry SDK (in-memory exporter, and the OTLP JSON file read back) and the real
Graphviz ``dot``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from aiodag import Run, TaskStatus, outcome, task, viz
from aiodag.analysis import wait_breakdown
from aiodag.trace import OpenTelemetrySink, configure
from aiodag.trace import attributes as attr
from aiodag.trace.stored import load_run


class Flaky(Exception):
    """Fails the first attempts."""


def pipeline() -> tuple[Any, ...]:
    """A run with a task retried twice, one timing out, two sharing a limit of 1, and
    one taking a failure as an outcome; returns the handles."""
    calls: list[int] = []

    @task(retries=2, retry_delay=0.001)
    async def fetch(key: str) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Flaky(f"attempt {len(calls)}")
        return key

    @task(timeout=0.01)
    async def hangs() -> None:
        await asyncio.sleep(10)

    @task(limit=1)
    async def store(value: str) -> str:
        await asyncio.sleep(0.005)
        return value

    @task
    async def report(*outcomes: Any) -> int:
        return sum(o.ok for o in outcomes)

    fetched = fetch("a")
    late = hangs()
    first, second = store(fetched), store("b")
    summary = report(outcome(late), outcome(first))
    return fetched, late, first, second, summary


@pytest.fixture
def exporter() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def spans_by_id(exporter: InMemorySpanExporter) -> dict[int, ReadableSpan]:
    found = {}
    for span in exporter.get_finished_spans():
        task_id = (span.attributes or {}).get(attr.TASK_ID)
        if isinstance(task_id, int):
            found[task_id] = span
    return found


async def test_trace_one_span_per_task_with_an_event_per_retried_attempt(
    exporter: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    """A retried task is one span: two aiodag.attempt_failed events, attempts=3, ok."""
    provider, memory = exporter
    async with Run("r", sinks=[OpenTelemetrySink(provider)], raise_errors=False) as run:
        fetched, _late, _first, _second, _summary = pipeline()
    spans = spans_by_id(memory)
    assert sorted(spans) == sorted(r.id for r in run.tasks)  # one span per task
    span = spans[fetched.id]
    assert span.status.status_code is not StatusCode.ERROR
    assert (span.attributes or {})[attr.TASK_ATTEMPTS] == 3
    events = [e for e in span.events if e.name == attr.ATTEMPT_FAILED_EVENT]
    assert [(e.attributes or {})[attr.ATTEMPT] for e in events] == [1, 2]
    assert [(e.attributes or {})["exception.message"] for e in events] == \
        ["attempt 1", "attempt 2"]
    assert {(e.attributes or {})["exception.type"] for e in events} == {"Flaky"}
    assert all(float((e.attributes or {})[attr.RETRY_DELAY_S]) >= 0 for e in events)
    record = run.task(fetched.id)
    # Each event is at its attempt's end, inside the span.
    offsets = [e.timestamp - a.finished_ns for e, a in zip(events, record.attempts, strict=False)]
    assert len(set(offsets)) == 1
    assert span.start_time is not None and span.end_time is not None
    assert all(span.start_time <= e.timestamp <= span.end_time for e in events)


async def test_trace_marks_the_timed_out_task(
    exporter: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    """The timed-out span: ERROR, TimeoutError, aiodag.task.timed_out; no retry events."""
    provider, memory = exporter
    async with Run("r", sinks=[OpenTelemetrySink(provider)], raise_errors=False):
        _fetched, late, _first, _second, _summary = pipeline()
    span = spans_by_id(memory)[late.id]
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is not None
    assert span.status.description.startswith("TimeoutError: hangs#")
    assert (span.attributes or {})[attr.TASK_TIMED_OUT] is True
    assert attr.TASK_ATTEMPTS not in (span.attributes or {})
    assert [e.name for e in span.events] == ["exception"]


async def test_trace_a_task_waiting_for_a_slot_starts_when_it_gets_it(
    exporter: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    """limit=1: the store spans do not overlap (the later begins when the earlier ends);
    the later one's wait for the slot is in its loop_wait_s, not in its span."""
    provider, memory = exporter
    async with Run("r", sinks=[OpenTelemetrySink(provider)], raise_errors=False):
        _fetched, _late, first, second, summary = pipeline()
    spans = spans_by_id(memory)
    # `first` waits for the retried fetch, so `second` (ready at once) holds the slot first.
    earlier, later = sorted([spans[first.id], spans[second.id]], key=lambda s: s.start_time or 0)
    assert earlier.end_time is not None and later.start_time is not None
    assert later.start_time >= earlier.end_time
    limit_wait = (later.attributes or {})[attr.TASK_LIMIT_WAIT_S]
    loop_wait = (later.attributes or {})[attr.TASK_LOOP_WAIT_S]
    assert isinstance(limit_wait, float) and isinstance(loop_wait, float)
    assert limit_wait >= 0 and loop_wait >= 0
    assert attr.TASK_LIMIT_WAIT_S not in (spans[summary.id].attributes or {})  # no limit


def test_a_stored_trace_keeps_attempts_and_timeouts(tmp_path: Path) -> None:
    """Written to an OTLP JSON file and read back: attempts and timed_out survive, and
    the drawing of the stored run shows them."""
    path = tmp_path / "trace.jsonl"
    provider = configure("tests", file=path, install=False)

    async def main() -> tuple[Run, tuple[Any, ...]]:
        async with Run("controls", sinks=[OpenTelemetrySink(provider)],
                       raise_errors=False) as run:
            handles = pipeline()
        return run, handles

    run, (fetched, late, first, _second, summary) = asyncio.run(main())
    provider.shutdown()
    stored = load_run(path)
    tasks = {t.id: t for t in stored.tasks}
    assert (tasks[fetched.id].attempts, tasks[fetched.id].timed_out) == (3, False)
    assert (tasks[late.id].attempts, tasks[late.id].timed_out) == (0, True)
    assert tasks[late.id].status is TaskStatus.FAILED
    assert (late.id, "data") in tasks[summary.id].deps  # the outcome edge
    assert tasks[first.id].limit_wait is not None
    assert tasks[summary.id].limit_wait is None
    # The wait breakdown read back agrees with the live one (to the trace's precision).
    live, stored_waits = run.wait_breakdown(), wait_breakdown({t.id: t for t in stored.tasks})
    for part in ("dependency_wait", "limit_wait", "loop_wait", "running"):
        assert getattr(stored_waits[first.id], part) == \
            pytest.approx(getattr(live[first.id], part), abs=1e-5), part
    source = viz.to_graphviz(stored).source
    assert "3 attempts" in source
    assert "timed out" in source


async def test_drawing_shows_attempts_timeouts_and_outcome_edges() -> None:
    """Node labels say "3 attempts" and "timed out"; outcome() is an edge."""
    async with Run("r", raise_errors=False) as run:
        _fetched, late, first, _second, summary = pipeline()
    graph = viz.to_graphviz(run, stack=0)
    source = graph.source
    assert source.count("3 attempts") == 1
    assert source.count("timed out") == 1
    assert f"\t{late.id} -> {summary.id} " in source
    assert f"\t{first.id} -> {summary.id} " in source


@pytest.mark.dot
async def test_drawing_renders_with_dot(tmp_path: Path) -> None:
    """The real dot renders it; the labels are in the SVG text."""
    async with Run("controls", raise_errors=False) as run:
        pipeline()
    svg = viz.render(run, tmp_path / "controls.svg").read_text()
    assert "3 attempts" in svg
    assert "timed out" in svg
    png = viz.render(run, tmp_path / "controls.png")
    assert png.stat().st_size > 1000


async def test_a_stacked_fan_out_counts_retried_and_timed_out_members() -> None:
    """fetch ×12 drawn as one stack says how many were retried and how many timed out."""
    calls: dict[int, int] = {}

    @task(retries=1, retry_delay=0.001, retry_on=(Flaky,), timeout=0.02)
    async def fetch(i: int) -> int:
        calls[i] = calls.get(i, 0) + 1
        if i < 3 and calls[i] == 1:
            raise Flaky("once")
        if i == 11:
            await asyncio.sleep(10)
        return i

    async with Run("fan", raise_errors=False) as run:
        for i in range(12):
            fetch(i)
    source = viz.to_graphviz(run, stack=5).source
    assert "fetch ×12" in source
    assert "3 retried" in source
    assert "1 timed out" in source


def test_the_commands_summary_shows_attempts_and_timeouts(tmp_path: Path) -> None:
    """The summary's table says why a task's status is what it is: a retried task's
    attempts, a timeout; the same for a run read back from its trace."""
    from aiodag.cli.report import summary

    path = tmp_path / "trace.jsonl"
    provider = configure("tests", file=path, install=False)

    async def main() -> Run:
        async with Run("observed", sinks=[OpenTelemetrySink(provider)],
                       raise_errors=False) as run:
            pipeline()
        return run

    run = asyncio.run(main())
    provider.shutdown()
    for source in (run, load_run(path)):
        lines = summary(source).splitlines()
        rows = {line.split()[0]: line for line in lines}
        assert "ok, 3 attempts" in rows["fetch('a')"]
        assert "timed out" in rows["hangs()"] and "failed" in rows["hangs()"]
        # The wider status column keeps the table aligned: each start under "start".
        header = next(line for line in lines if line.startswith("task "))
        end = header.index("start") + len("start")
        for label in ("fetch('a')", "hangs()"):
            assert rows[label][end - 1].isdigit() and rows[label][end] == " "
