"""Engine overhead on a layered DAG, against hand-written asyncio in the same process.

Shape: 30,000 tasks in layers of 100; each task depends on two tasks of the layer
before.  Three ways to build and run it, alternated over several rounds (median kept):

(a) by hand: ``asyncio.create_task`` of a coroutine that awaits its upstream tasks;
(b) aiodag, no sinks;
(c) aiodag inside a recording ``Run`` (with its loop-blocking detection, the default,
    and without it: the difference is the detection's cost).

Also: memory a ``Run`` keeps per recorded task, and what stays alive without a run.

    python bench/bench_engine.py [--tasks 30000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Coroutine
from typing import Any

import aiodag
from aiodag import Run, task

WIDTH = 100


def upstreams_of(i: int, width: int) -> tuple[int, int]:
    """The two upstream indices of task ``i`` (which must not be in the first layer)."""
    layer_start = (i // width - 1) * width
    j = i % width
    return layer_start + j, layer_start + (j + 1) % width


# (a) by hand ------------------------------------------------------------------------

async def _hand_node(ups: tuple[asyncio.Task[Any], ...]) -> int:
    for up in ups:
        await up
    return 1


async def build_by_hand(n: int) -> None:
    tasks: list[asyncio.Task[int]] = []
    for i in range(n):
        ups = () if i < WIDTH else tuple(tasks[k] for k in upstreams_of(i, WIDTH))
        tasks.append(asyncio.create_task(_hand_node(ups)))
    await asyncio.gather(*tasks[-WIDTH:])


# (b), (c) aiodag ---------------------------------------------------------------------

@task
async def leaf() -> int:
    return 1


@task
async def node(a: int, b: int) -> int:
    return 1


async def build_aiodag(n: int) -> None:
    handles: list[aiodag.TaskHandle[int]] = []
    for i in range(n):
        if i < WIDTH:
            handles.append(leaf())
        else:
            a, b = upstreams_of(i, WIDTH)
            handles.append(node(handles[a], handles[b]))
    await asyncio.gather(*handles[-WIDTH:])


async def build_aiodag_in_run(n: int) -> None:
    async with Run("bench"):
        await build_aiodag(n)


async def build_aiodag_in_run_unwatched(n: int) -> None:
    async with Run("bench", block_threshold=None):
        await build_aiodag(n)


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
    args = parser.parse_args()
    global GC_ON
    GC_ON = not args.gc_off
    n = args.tasks

    variants = {
        "(a) asyncio by hand": build_by_hand,
        "(b) aiodag, no sinks": build_aiodag,
        "(c) aiodag in a Run": build_aiodag_in_run,
        "(c) without loop watch": build_aiodag_in_run_unwatched,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for build in variants.values():  # warm-up round, not counted
        time_one(build, n // 10)
    for _ in range(args.rounds):
        for name, build in variants.items():
            times[name].append(time_one(build, n))

    base = statistics.median(times["(a) asyncio by hand"])
    print(f"layered DAG: {n:,} tasks, width {WIDTH}, 2 upstreams each; "
          f"median of {args.rounds} alternating rounds; garbage collector "
          f"{'on' if GC_ON else 'paused'}")
    for name, samples in times.items():
        med = statistics.median(samples)
        print(f"  {name:<24} {med / n * 1e6:7.2f} µs/task   {med / base:5.2f}× (a)")
    watch = (statistics.median(times["(c) aiodag in a Run"])
             - statistics.median(times["(c) without loop watch"])) / n * 1e6
    print(f"  loop-blocking detection: {watch:+.2f} µs/task (Run with it on, minus off; "
          "it costs per heartbeat, not per task)")
    per_record = memory_per_record(n)
    print(f"  Run memory per recorded task: {per_record:,.0f} bytes")
    alive, retained = retained_without_run(n)
    print(f"  without a Run, after the DAG finished: {alive} handles alive, "
          f"{retained:,} bytes retained")


if __name__ == "__main__":
    main()
