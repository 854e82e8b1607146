"""Cost of tracing a layered DAG with ``OpenTelemetrySink``, against the SDK's own span cost.

Shape (from bench_engine.py): 30,000 tasks in layers of 100; each task depends on two
tasks of the layer before.  All spans go to one SDK ``TracerProvider`` with a
``BatchSpanProcessor`` and an exporter that discards them, so the figures are the cost
of making spans, not of shipping them; times are the process's CPU time (all threads),
so other work on a shared machine does not count.  Alternated over several rounds
(median kept):

(s) SDK baseline: start and end one bare span with the same links as a task here, two
    (a child of a parent span, as a task span is a child of its run's), nothing else;
(t) the SDK alone making the span the sink makes for a task here, with the same calls:
    its five attributes at the start, two links, explicit times, no status (an ok task's
    span has none), in a tight loop (to tell the SDK's share of the added cost from the
    sink's own and the engine's events);
(b) aiodag in a ``Run``, no sinks;
(e) aiodag in a ``Run`` with a sink that does nothing: the engine's events alone;
(h) aiodag in a ``Run``, each task's body making a bare span with its upstreams' links
    by hand: the bare span's cost in place, amid the loop's work;
(u) the same, each body making by hand the span the sink makes for it: the attributes
    the sink writes at the start (values of the same types), its upstreams' links,
    explicit times, and the span current while the body runs (attached and detached).
    No sink, so no engine events: the least any sink that writes these facts can cost;
(c) aiodag in a ``Run`` with an ``OpenTelemetrySink``: one span per task, two links.

The sink's cost per task is (c) − (b); its overhead beyond the bare span is
(c) − (b) − (s), and the target is at most 1.0× (s).  The ratio is also computed per
round (each round runs every variant once, in turn) and its range printed: on a shared
machine one round's figures move together.

    python bench/bench_trace.py [--tasks 30000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence

from bench_engine import WIDTH, build_aiodag, build_with, upstreams_of
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanContext
from opentelemetry.util.types import AttributeValue

from aiodag import Run, task
from aiodag.events import Event
from aiodag.trace import OpenTelemetrySink
from aiodag.typing import Sink

TARGET = 1.0

CLOCK = time.process_time
"""CPU seconds of this process, all its threads: on a machine shared with other work,
wall-clock time counts theirs too (``--wall`` uses it anyway)."""


class DiscardingExporter(SpanExporter):
    """Accepts every batch and keeps nothing."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def make_provider(n: int) -> tuple[TracerProvider, DiscardingExporter]:
    exporter = DiscardingExporter()
    provider = TracerProvider()
    # A queue that holds a whole round, so no span is dropped (dropping is cheaper).
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=2 * n + 1024))
    return provider, exporter


def timed(run: Callable[[], None], provider: TracerProvider, gc_on: bool = True) -> float:
    """Seconds ``run`` takes, from an empty span queue and a fresh collection (GC on:
    the garbage collector's share of the cost is part of it; ``--gc-off`` pauses it)."""
    provider.force_flush()
    gc.collect()
    if not gc_on:
        gc.disable()
    try:
        start = CLOCK()
        run()
        return CLOCK() - start
    finally:
        gc.enable()


def sdk_spans(provider: TracerProvider, n: int) -> Callable[[], None]:
    """(s): n bare spans, each linked to two before it, children of one parent."""
    tracer = provider.get_tracer("bench")

    def run() -> None:
        parent = tracer.start_span("parent")
        context = trace.set_span_in_context(parent)
        a = b = parent.get_span_context()
        for _ in range(n):
            span = tracer.start_span("node", context, links=[trace.Link(a), trace.Link(b)])
            span.end()
            a, b = b, span.get_span_context()
        parent.end()

    return run


def sdk_task_spans(provider: TracerProvider, n: int) -> Callable[[], None]:
    """(t): n spans shaped like the sink's task spans, each linked to two before it."""
    tracer = provider.get_tracer("bench")

    def run() -> None:
        parent = tracer.start_span("parent")
        context = trace.set_span_in_context(parent)
        a = b = parent.get_span_context()
        now = time.time_ns()
        for i in range(n):
            attributes: dict[str, AttributeValue] = {
                "aiodag.task.id": i, "aiodag.task.label": f"node(node#{i}, node#{i + 1})",
                "aiodag.task.wait_s": 0.001, "aiodag.task.loop_wait_s": 0.0001,
                "aiodag.task.released_by": i + 1,
            }
            span = tracer.start_span("node", context, attributes=attributes,
                                     links=[trace.Link(a), trace.Link(b)],
                                     start_time=now)
            span.end(now)
            a, b = b, span.get_span_context()
        parent.end()

    return run


def dag_with_bare_spans(provider: TracerProvider, n: int) -> Callable[[], None]:
    """(h): the DAG in a Run, each task's body making a bare span linked to its upstreams'.

    The cheapest tracing by hand, in the same place as the sink's: the span's cost
    amid the event loop's work, rather than in a tight loop as in (s).
    """
    tracer = provider.get_tracer("bench")

    @task(name="leaf")
    async def leaf_span() -> SpanContext:
        span = tracer.start_span("leaf")
        span.end()
        return span.get_span_context()

    @task(name="node")
    async def node_span(a: SpanContext, b: SpanContext) -> SpanContext:
        span = tracer.start_span("node", links=[trace.Link(a), trace.Link(b)])
        span.end()
        return span.get_span_context()

    async def main() -> None:
        async with Run("bench"):
            await build_with(n, leaf_span, node_span)

    return lambda: asyncio.run(main())


def dag_with_sink_shaped_spans(provider: TracerProvider, n: int) -> Callable[[], None]:
    """(u): the DAG in a Run, each task's body making the sink's span for it by hand."""
    tracer = provider.get_tracer("bench")

    def span_of(name: str, attributes: dict[str, AttributeValue],
                links: Sequence[trace.Link]) -> trace.Link:
        span = tracer.start_span(name, None, attributes=attributes, links=links,
                                 start_time=time.time_ns())
        token = otel_context.attach(trace.set_span_in_context(span))  # the body runs here
        otel_context.detach(token)
        span.end(time.time_ns())
        return trace.Link(span.get_span_context())  # one link, for every dependent

    @task(name="leaf")
    async def leaf_span() -> trace.Link:
        return span_of("leaf", {"aiodag.task.id": 7, "aiodag.task.label": "leaf()",
                                "aiodag.task.wait_s": 1e-4}, ())

    @task(name="node")
    async def node_span(a: trace.Link, b: trace.Link) -> trace.Link:
        return span_of("node", {
            "aiodag.task.id": 12345, "aiodag.task.label": "node(node#12100, node#12101)",
            "aiodag.task.wait_s": 1e-4, "aiodag.task.loop_wait_s": 1e-5,
            "aiodag.task.released_by": 12101,
        }, [a, b])

    async def main() -> None:
        async with Run("bench"):
            await build_with(n, leaf_span, node_span)

    return lambda: asyncio.run(main())


def ignore(event: Event) -> None:
    """(e): a sink that does nothing."""


def dag_in_run(n: int, sink: Sink | None) -> Callable[[], None]:
    """(b), (e) or (c): the layered DAG in a Run, with or without a sink."""

    async def main() -> None:
        async with Run("bench", sinks=[sink] if sink is not None else []):
            await build_aiodag(n)

    return lambda: asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--wall", action="store_true",
                        help="time with the wall clock instead of the process's CPU time")
    parser.add_argument("--gc-off", action="store_true",
                        help="pause the garbage collector while timing (as bench_engine)")
    args = parser.parse_args()
    n = args.tasks
    if args.wall:
        global CLOCK
        CLOCK = time.perf_counter
    assert n > WIDTH and upstreams_of(WIDTH, WIDTH) == (0, 1)

    provider, exporter = make_provider(n)
    sink = OpenTelemetrySink(provider)
    variants = {
        "(s) SDK bare span + 2 links": sdk_spans(provider, n),
        "(t) SDK, the sink's span": sdk_task_spans(provider, n),
        "(b) aiodag in a Run": dag_in_run(n, None),
        "(e) ... + a sink doing nothing": dag_in_run(n, ignore),
        "(h) ... + bare spans by hand": dag_with_bare_spans(provider, n),
        "(u) ... + the sink's spans by hand": dag_with_sink_shaped_spans(provider, n),
        "(c) ... + OpenTelemetrySink": dag_in_run(n, sink),
    }
    small = {
        "s": sdk_spans(provider, n // 10),
        "t": sdk_task_spans(provider, n // 10),
        "b": dag_in_run(n // 10, None),
        "e": dag_in_run(n // 10, ignore),
        "h": dag_with_bare_spans(provider, n // 10),
        "u": dag_with_sink_shaped_spans(provider, n // 10),
        "c": dag_in_run(n // 10, sink),
    }
    for run in small.values():  # warm-up round, not counted
        timed(run, provider)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, run in variants.items():
            times[name].append(timed(run, provider, not args.gc_off))
    provider.shutdown()
    expected = ((n // 10) + 1 + args.rounds * (n + 1)) * 3  # (s), (t), (c): + parent/run
    expected += ((n // 10) + args.rounds * n) * 2  # (h), (u)
    assert exporter.spans == expected, (exporter.spans, expected)

    per = {name: statistics.median(samples) / n * 1e6 for name, samples in times.items()}
    sdk = per[S]
    added = per[C] - per[B]
    print(f"layered DAG: {n:,} tasks, width {WIDTH}, 2 upstreams each; "
          f"median of {args.rounds} alternating rounds, GC {'paused' if args.gc_off else 'on'}, "
          f"{'wall-clock' if args.wall else 'CPU'} time; BatchSpanProcessor, discarding exporter")
    print(f"  {machine()}")
    for name, us in per.items():
        unit = "span" if name[1] in "st" else "task"
        print(f"  {name:<36} {us:7.2f} µs/{unit}")
    overhead = added - sdk
    ratio = overhead / sdk
    low, high = ratio_range(times, C)
    verdict = "meets" if ratio <= TARGET else "MISSES"
    print(f"  added by the sink, (c) - (b): {added:.2f} µs/task = {added / sdk:.2f}× (s)")
    print(f"  overhead beyond the bare span, (c) - (b) - (s): {overhead:.2f} µs/task "
          f"= {ratio:.2f}× (s), range {low:.2f}–{high:.2f}× over the rounds "
          f"({verdict} the target of ≤ {TARGET}×)")
    print(f"    of which the SDK's attributes and times on the span, (t) - (s): "
          f"{per[T] - sdk:.2f} µs")
    in_situ = per[H] - per[B]
    print(f"  the bare span amid the loop's work, (h) - (b): {in_situ:.2f} µs = "
          f"{in_situ / sdk:.2f}× (s)")
    floor = per[U] - per[B] - sdk
    floor_low, floor_high = ratio_range(times, U)
    print(f"  the sink's span made by hand amid the loop's work, (u) - (b) - (s): "
          f"{floor:.2f} µs = {floor / sdk:.2f}× (s), range {floor_low:.2f}–{floor_high:.2f}×: "
          f"the least a sink writing these facts can cost")
    events = per[E] - per[B]
    beyond = per[C] - per[U]
    print(f"  the sink beyond that, (c) - (u): {beyond:.2f} µs = {beyond / sdk:.2f}× (s)")
    print(f"    the engine's events for a sink, (e) - (b): {events:.2f} µs")
    print(f"    the rest (the sink's own work, and the garbage collector walking what it "
          f"keeps): {beyond - events:.2f} µs")


S, T, B = "(s) SDK bare span + 2 links", "(t) SDK, the sink's span", "(b) aiodag in a Run"
E, H = "(e) ... + a sink doing nothing", "(h) ... + bare spans by hand"
U, C = "(u) ... + the sink's spans by hand", "(c) ... + OpenTelemetrySink"


def ratio_range(times: dict[str, list[float]], variant: str) -> tuple[float, float]:
    """The lowest and highest ``(variant - b - s) / s`` of any one round."""
    ratios = [(x - b - s) / s for x, b, s in zip(times[variant], times[B], times[S], strict=True)]
    return min(ratios), max(ratios)


def machine() -> str:
    """The Python and the machine, for the figures' record."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"Python {platform.python_version()} ({platform.python_implementation()}), "
            f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}")


if __name__ == "__main__":
    main()
