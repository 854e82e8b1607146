"""Nothing dropped silently: every dependency, every span, and what Jaeger would lose."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otlp_receivers import Received, free_port

from aiodag import Run, task
from aiodag.trace import OpenTelemetrySink, configure, export_stats
from aiodag.trace import attributes as attr


@task
async def value(x: int) -> int:
    return x


@task
async def total(*xs: int) -> int:
    return sum(xs)


@task
async def fail() -> int:
    raise RuntimeError("no")


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()  # the SDK's default span limits: 128 links
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def by_task(exporter: InMemorySpanExporter) -> dict[int, ReadableSpan]:
    found = {}
    for span in exporter.get_finished_spans():
        if span.attributes and attr.TASK_ID in span.attributes:
            found[int(span.attributes[attr.TASK_ID])] = span  # type: ignore[arg-type]
    return found


def file_spans(path: Path) -> list[dict[str, Any]]:
    spans = []
    for line in path.read_text().splitlines():
        for resource in json.loads(line)["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                spans.extend(scope["spans"])
    return spans


def json_attributes(span: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for kv in span.get("attributes", []):
        [(kind, value)] = kv["value"].items()
        if kind == "arrayValue":
            value = [next(iter(v.values())) for v in value.get("values", [])]
        found[kv["key"]] = int(value) if kind == "intValue" else value
    return found


# -- what Jaeger keeps ------------------------------------------------------------------

async def test_exogenous_upstream_ids_are_a_span_attribute(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Jaeger drops link attributes: the span itself says which upstreams are exogenous."""
    async with Run("exo", sinks=[OpenTelemetrySink(provider)], raise_errors=False):
        gate1, gate2, x = value(1), value(2), value(3)
        both = task(total, gate1, gate2)(x)
        data_only = total(x, x)
        broken = fail()
        never = task(total, gate2, broken)(x)
    spans = by_task(exporter)
    assert spans[both.id].attributes is not None
    assert list(spans[both.id].attributes[attr.TASK_EXOGENOUS_UPSTREAM_IDS]) == [  # type: ignore[arg-type]
        gate1.id, gate2.id
    ]
    assert attr.TASK_EXOGENOUS_UPSTREAM_IDS not in (spans[data_only.id].attributes or {})
    assert attr.TASK_EXOGENOUS_UPSTREAM_IDS not in (spans[x.id].attributes or {})
    # A task that never ran has its zero-length span, with the attribute too.
    never_attrs = spans[never.id].attributes or {}
    assert never_attrs[attr.TASK_STATUS] == "upstream_failed"
    assert list(never_attrs[attr.TASK_EXOGENOUS_UPSTREAM_IDS]) == [gate2.id, broken.id]  # type: ignore[arg-type]


@task
async def spawner() -> int:
    child = value(7)  # called from a task's body: spawned by it
    return await child


async def test_the_task_that_called_a_task_is_a_span_attribute(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """aiodag.task.caller_id: which task's body made the call; absent from plain code."""
    async with Run("spawn", sinks=[OpenTelemetrySink(provider)]) as run:
        parent = spawner()
    spans = by_task(exporter)
    [child] = [r for r in run.tasks if r.id != parent.id]
    assert (spans[child.id].attributes or {})[attr.TASK_CALLER_ID] == parent.id
    assert attr.TASK_CALLER_ID not in (spans[parent.id].attributes or {})


# -- links over the SDK's limit -----------------------------------------------------------

async def test_configure_keeps_every_link_of_a_task_with_300_upstreams(tmp_path: Path) -> None:
    """The SDK keeps 128 links per span by default; configure() raises the limit."""
    path = tmp_path / "trace.jsonl"
    provider = configure(file=path, install=False)
    try:
        async with Run("wide", sinks=[OpenTelemetrySink(provider)]):
            ups = [value(i) for i in range(300)]
            wide = total(*ups)
    finally:
        provider.shutdown()
    spans = file_spans(path)
    ids = {s["spanId"]: json_attributes(s).get(attr.TASK_ID) for s in spans}
    [span] = [s for s in spans if json_attributes(s).get(attr.TASK_ID) == wide.id]
    assert [ids[link["spanId"]] for link in span["links"]] == [u.id for u in ups]
    assert span.get("droppedLinksCount", 0) == 0


async def test_a_provider_that_truncates_links_gets_the_full_list_and_one_warning(
    provider: TracerProvider, exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A user's provider keeping 128 links: all 300 upstream ids go in an attribute."""
    with caplog.at_level(logging.WARNING, logger="aiodag.trace"):
        async with Run("wide", sinks=[OpenTelemetrySink(provider)]):
            ups = [value(i) for i in range(300)]
            wide = total(*ups)
            wide2 = total(*reversed(ups))
            narrow = total(*ups[:100])
    spans = by_task(exporter)
    for handle, expected in ((wide, ups), (wide2, ups[::-1])):
        span = spans[handle.id]
        assert len(span.links) == 128
        assert list(span.attributes[attr.TASK_UPSTREAM_IDS]) == [u.id for u in expected]  # type: ignore[arg-type,index]
    assert attr.TASK_UPSTREAM_IDS not in (spans[narrow.id].attributes or {})
    warnings = [r for r in caplog.records if r.name == "aiodag.trace"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "128 links" in message and attr.TASK_UPSTREAM_IDS in message
    assert "SpanLimits(max_links=" in message


# -- spans: never dropped for a file, counted over the network --------------------------

def test_a_file_export_never_drops_a_span(tmp_path: Path) -> None:
    """Spans end far faster than the JSON file exporter writes them: nothing is lost."""
    path = tmp_path / "trace.jsonl"
    provider = configure(file=path, install=False)
    tracer = provider.get_tracer("test")
    n = 40_000
    # All end at once, as the tasks of a wide DAG's layer do (the SDK's queue held 16,384).
    spans = [tracer.start_span("s", attributes={"i": i}) for i in range(n)]
    for span in spans:
        span.end()
    provider.shutdown()
    [stats] = export_stats(provider)
    assert (stats.exported, stats.dropped) == (n, 0)
    seen = sorted(int(json_attributes(span)["i"]) for span in file_spans(path))
    assert seen == list(range(n))


async def test_a_file_export_of_a_large_run_holds_every_task(tmp_path: Path) -> None:
    """20,000 independent tasks in a Run (each span sent as it ends): all in the file."""
    path = tmp_path / "trace.jsonl"
    provider = configure(file=path, install=False)
    try:
        async with Run("many", sinks=[OpenTelemetrySink(provider)]) as run:
            for i in range(20_000):
                value(i)
    finally:
        provider.shutdown()
    ids = {json_attributes(s).get(attr.TASK_ID) for s in file_spans(path)}
    assert ids >= {r.id for r in run.tasks} and len(ids) == 20_001  # + the run (None)


def test_spans_a_full_network_queue_drops_are_counted(
    grpc_receiver: tuple[Received, int], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Over the network a full queue drops spans rather than slow the pipeline: counted."""
    received, port = grpc_receiver
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64")
    provider = configure(endpoint=f"127.0.0.1:{port}", install=False)
    [stats] = export_stats(provider)
    tracer = provider.get_tracer("test")
    made = 0
    while made < 300_000 and (stats.dropped == 0 or made < 5_000):
        for _ in range(1_000):
            tracer.start_span("s").end()
        made += 1_000
    with caplog.at_level(logging.WARNING, logger="aiodag.trace.export"):
        provider.shutdown()
    assert stats.dropped > 0
    assert stats.exported + stats.dropped == made
    assert len(received.spans()) == stats.exported
    [warning] = [r.getMessage() for r in caplog.records if r.name == "aiodag.trace.export"]
    assert warning.startswith(f"{stats.dropped} of {made} spans were not exported to ")
    assert "the export queue was full" in warning


async def test_spans_dropped_during_a_run_are_on_its_span(tmp_path: Path) -> None:
    """A dead receiver next to a file: the run span in the file counts the lost spans."""
    path = tmp_path / "trace.jsonl"
    provider = configure(file=path, endpoint=f"127.0.0.1:{free_port()}", install=False)
    try:
        async with Run("lossy", sinks=[OpenTelemetrySink(provider)]):
            await asyncio.gather(*(value(i) for i in range(10)))
            await asyncio.to_thread(provider.force_flush)  # the receiver refuses them
    finally:
        provider.shutdown()
    runs = {s["name"]: json_attributes(s) for s in file_spans(path)
            if attr.RUN_ID in json_attributes(s)}
    assert int(runs["lossy"][attr.RUN_SPANS_DROPPED]) == 10


def test_a_forked_child_exports_with_a_writer_of_its_own(tmp_path: Path) -> None:
    """A process pool's forked worker ending many spans neither hangs nor loses them."""
    import multiprocessing

    path = tmp_path / "trace.jsonl"
    provider = configure(file=path, install=False)
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_end_spans_and_flush, args=(provider, 20_000))
    child.start()
    child.join(timeout=30)
    if child.exitcode is None:
        child.kill()
    provider.shutdown()
    assert child.exitcode == 0
    assert len(file_spans(path)) == 20_000


def _end_spans_and_flush(provider: TracerProvider, n: int) -> None:
    tracer = provider.get_tracer("child")
    for i in range(n):
        tracer.start_span("s", attributes={"i": i}).end()
    provider.shutdown()
