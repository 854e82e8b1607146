"""Engine overhead on a layered DAG, against hand-written asyncio in the same process.

Shape: N tasks in layers of 100; each task depends on two tasks of the layer before.
Ways to build and run it, alternated over several rounds (median kept), each on a fresh
loop, with the garbage collector on (as programs run; ``--gc-off`` pauses it):

(a) by hand: ``asyncio.create_task`` of a coroutine that awaits its upstream tasks and
    computes the result itself;
(a2) by hand, the same coroutine then awaiting the body as a coroutine of its own (as
    aiodag runs a task's function: the like-for-like baseline);
(b) aiodag, no sinks;
(c) aiodag inside a recording ``Run`` (with its loop-blocking detection, the default,
    and without it: the difference is the detection's cost);
(f) the floor of aiodag's design: the least engine built the same way, with none of
    aiodag's semantics (``engine_floor.py``): how far (b) is from it is their price;
    and that floor recording the least a ``Run`` must (against (c)).

``--suspend``: every body awaits ``asyncio.sleep(0)`` once (bodies that suspend).
Also: peak memory of (a) and (b) (tracemalloc), memory a finished ``Run`` keeps per
task, and what stays alive without a run.

    python bench/bench_engine.py [--tasks 30000] [--rounds 5] [--suspend] [--gc-off]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Coroutine
from typing import Any

from engine_floor import FloorEngine, FloorHandle

import aiodag
from aiodag import Run, task

WIDTH = 100


def upstreams_of(i: int, width: int) -> tuple[int, int]:
    """The two upstream indices of task ``i`` (which must not be in the first layer)."""
    layer_start = (i // width - 1) * width
    j = i % width
    return layer_start + j, layer_start + (j + 1) % width


SUSPEND = False
"""Bodies await ``asyncio.sleep(0)`` once (``--suspend``)."""


# (a) by hand ------------------------------------------------------------------------

async def _hand_node(ups: tuple[asyncio.Task[Any], ...]) -> int:
    for up in ups:
        await up
    if SUSPEND:
        await asyncio.sleep(0)
    return 1


async def build_by_hand(n: int) -> None:
    await _build_by_hand(n, _hand_node)


async def _build_by_hand(
    n: int, node: Callable[[tuple[asyncio.Task[int], ...]], Coroutine[Any, Any, int]],
) -> None:
    """The layered DAG by hand: each task a ``node(upstream tasks)`` coroutine."""
    tasks: list[asyncio.Task[int]] = []
    for i in range(n):
        ups = () if i < WIDTH else tuple(tasks[k] for k in upstreams_of(i, WIDTH))
        tasks.append(asyncio.create_task(node(ups)))
    await asyncio.gather(*tasks[-WIDTH:])


async def _body(*values: int) -> int:
    if SUSPEND:
        await asyncio.sleep(0)
    return 1


async def _hand_node_with_body(ups: tuple[asyncio.Task[int], ...]) -> int:
    values = [await up for up in ups]
    return await _body(*values)


async def build_by_hand_with_body(n: int) -> None:
    await _build_by_hand(n, _hand_node_with_body)


# (b), (c) aiodag ---------------------------------------------------------------------

@task
async def leaf() -> int:
    if SUSPEND:
        await asyncio.sleep(0)
    return 1


@task
async def node(a: int, b: int) -> int:
    if SUSPEND:
        await asyncio.sleep(0)
    return 1


async def build_with(n: int, first: Callable[[], Any], then: Callable[[Any, Any], Any]) -> None:
    """The layered DAG of aiodag tasks: ``first()`` in the first layer, ``then(a, b)``
    after (also for bench_trace.py's variants)."""
    handles: list[aiodag.TaskHandle[Any]] = []
    for i in range(n):
        if i < WIDTH:
            handles.append(first())
        else:
            a, b = upstreams_of(i, WIDTH)
            handles.append(then(handles[a], handles[b]))
    await asyncio.gather(*handles[-WIDTH:])


async def build_aiodag(n: int) -> None:
    await build_with(n, leaf, node)


async def build_aiodag_in_run(n: int) -> None:
    async with Run("bench"):
        await build_aiodag(n)


async def build_aiodag_in_run_unwatched(n: int) -> None:
    async with Run("bench", block_threshold=None):
        await build_aiodag(n)


async def build_floor(n: int, record: bool = False) -> None:
    # build_with's loop, written out: a waiting FloorHandle cannot be gathered, and a
    # wrapper around engine.call would charge the floor a call per task (b) does not pay.
    engine = FloorEngine(n, record)
    handles: list[FloorHandle] = []
    for i in range(n):
        if i < WIDTH:
            handles.append(engine.call(_body))
        else:
            a, b = upstreams_of(i, WIDTH)
            handles.append(engine.call(_body, handles[a], handles[b]))
    await engine.finished


async def build_floor_recording(n: int) -> None:
    await build_floor(n, record=True)


GC_ON = True
"""Time with the cyclic garbage collector on, as programs run (``--gc-off`` pauses it,
to see the engine's own work apart from the collections its allocations cause)."""


def time_one(build: Callable[[int], Coroutine[Any, Any, None]], n: int) -> float:
    """Seconds to build and run the DAG once on a fresh loop (after a full collection,
    so each round starts from the same heap)."""
    gc.collect()
    if not GC_ON:
        gc.disable()
    try:
        start = time.perf_counter()
        asyncio.run(build(n))
        return time.perf_counter() - start
    finally:
        gc.enable()


def peak_memory(build: Callable[[int], Coroutine[Any, Any, None]], n: int) -> int:
    """Peak bytes allocated while building and running the DAG (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    asyncio.run(build(n))
    _now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def memory_per_record(n: int) -> float:
    """Bytes a finished Run retains per task (its records), measured with tracemalloc."""

    async def main() -> Run:
        async with Run("mem") as run:
            await build_aiodag(n)
        return run

    gc.collect()
    tracemalloc.start()
    run = asyncio.run(main())
    gc.collect()
    retained, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(run.tasks) == n
    return retained / n


def retained_without_run(n: int) -> tuple[int, int]:
    """(handles alive in the engine, bytes retained) after a run-less DAG finished."""
    from aiodag.handle import alive_handles

    async def main() -> int:
        await build_aiodag(n)
        await asyncio.sleep(0)
        return len(alive_handles(asyncio.get_running_loop()))

    gc.collect()
    tracemalloc.start()
    alive = asyncio.run(main())
    gc.collect()
    retained, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return alive, retained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gc-off", action="store_true",
                        help="pause the garbage collector while timing")
    parser.add_argument("--suspend", action="store_true",
                        help="bodies await asyncio.sleep(0) once")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the memory measurements")
    args = parser.parse_args()
    global GC_ON, SUSPEND
    GC_ON = not args.gc_off
    SUSPEND = args.suspend
    n = args.tasks

    variants = {
        "(a) asyncio by hand": build_by_hand,
        "(a2) by hand, body apart": build_by_hand_with_body,
        "(b) aiodag, no sinks": build_aiodag,
        "(c) aiodag in a Run": build_aiodag_in_run,
        "(c) without loop watch": build_aiodag_in_run_unwatched,
        "(f) the design's floor": build_floor,
        "(f) floor, recording": build_floor_recording,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for build in variants.values():  # warm-up round, not counted
        time_one(build, n // 10)
    for _ in range(args.rounds):
        for name, build in variants.items():
            times[name].append(time_one(build, n))

    base = statistics.median(times["(a) asyncio by hand"])
    base2 = statistics.median(times["(a2) by hand, body apart"])
    print(f"layered DAG: {n:,} tasks, width {WIDTH}, 2 upstreams each; bodies "
          f"{'suspend once' if SUSPEND else 'return at once'}; median of {args.rounds} "
          f"alternating rounds; garbage collector {'on' if GC_ON else 'paused'}; "
          f"Python {sys.version.split()[0]}")
    for name, samples in times.items():
        med = statistics.median(samples)
        print(f"  {name:<26} {med / n * 1e6:7.2f} µs/task   {med / base:5.2f}× (a)  "
              f"{med / base2:5.2f}× (a2)   range {min(samples) / base:.2f}–"
              f"{max(samples) / base:.2f}× (a)")
    if args.no_memory:
        return
    watch = (statistics.median(times["(c) aiodag in a Run"])
             - statistics.median(times["(c) without loop watch"])) / n * 1e6
    print(f"  loop-blocking detection: {watch:+.2f} µs/task (Run with it on, minus off; "
          "it costs per heartbeat, not per task)")
    hand_peak, aiodag_peak = peak_memory(build_by_hand, n), peak_memory(build_aiodag, n)
    print(f"  peak memory: (a) {hand_peak / n:,.0f} B/task, (b) {aiodag_peak / n:,.0f} "
          f"B/task: {aiodag_peak / hand_peak:.2f}× (a)")
    per_record = memory_per_record(n)
    print(f"  Run memory per recorded task: {per_record:,.0f} bytes")
    alive, retained = retained_without_run(n)
    print(f"  without a Run, after the DAG finished: {alive} handles alive, "
          f"{retained:,} bytes retained")


if __name__ == "__main__":
    main()
