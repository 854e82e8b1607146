"""aiodag on a Dask cluster: the speed-up on CPU-bound work, and the cost per call.

A LocalCluster of 2 worker processes (one thread each) on 127.0.0.1, started here; its
scheduler runs on its own loop, not the pipeline's, as on a real cluster.

1. Speed-up.  A CPU-bound DAG (``--fanout`` tasks of pure-Python work, then one task
   summing them) run (a) on the loop's thread pool, where the GIL lets one task run
   at a time, and (b) with ``Run(executor=client)``: the same code, one argument more.
   The figure is (a)'s time over (b)'s (ideally about 2 on 2 cores).
2. Cost per call.  ``--calls`` tiny calls, (c) through Dask alone
   (``await client.submit(fn, i)``) and (d) as aiodag tasks on the client
   (``await task(fn, executor=client)(i)``): one after another (the round trip), and
   all at once (throughput: Dask gathering all results in one call, and awaiting each
   future as aiodag does).  The figure is (d) over (c); the target is 1.1 or less.

Every pair is alternated over ``--rounds`` rounds, the garbage collector on; medians are
printed with their range.

    python bench/bench_dask.py [--rounds 7] [--fanout 8] [--work 2000000] [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import distributed

from aiodag import Run, task


def crunch(seed: int, work: int) -> int:
    """Pure-Python CPU work (holds the GIL throughout)."""
    acc = seed
    for i in range(work):
        acc = (acc * 1_103_515_245 + i) % 2_147_483_648
    return acc


def combine(*values: int) -> int:
    return sum(values) % 1_000_003


def tiny(i: int) -> int:
    return i + 1


async def dag(fanout: int, work: int, executor: Any) -> int:
    async with Run("bench", executor=executor):
        parts = [task(crunch)(seed, work) for seed in range(fanout)]
        result = task(combine)(*parts)
    return await result


async def dask_one_by_one(client: Any, calls: int) -> None:
    for i in range(calls):
        assert await client.submit(tiny, i, pure=False) == i + 1


async def aiodag_one_by_one(client: Any, calls: int) -> None:
    on_cluster = task(tiny, executor=client)
    for i in range(calls):
        assert await on_cluster(i) == i + 1


async def dask_all_at_once(client: Any, calls: int) -> None:
    futures = [client.submit(tiny, i, pure=False) for i in range(calls)]
    assert await client.gather(futures) == [i + 1 for i in range(calls)]


async def dask_all_at_once_awaited(client: Any, calls: int) -> None:
    futures = [client.submit(tiny, i, pure=False) for i in range(calls)]
    assert await asyncio.gather(*futures) == [i + 1 for i in range(calls)]


async def aiodag_all_at_once(client: Any, calls: int) -> None:
    on_cluster = task(tiny, executor=client)
    handles = [on_cluster(i) for i in range(calls)]
    assert await asyncio.gather(*handles) == [i + 1 for i in range(calls)]


async def timed(run: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await run()
    return time.perf_counter() - start


def summary(label: str, times: list[float], per: int = 1, unit: str = "s") -> str:
    scale = 1e6 if unit == "µs" else 1.0
    values = [t / per * scale for t in times]
    return (f"{label:<44} median {statistics.median(values):9.2f} {unit} "
            f"(range {min(values):.2f}–{max(values):.2f})")


def ratio(label: str, num: list[float], den: list[float]) -> str:
    ratios = [a / b for a, b in zip(num, den, strict=True)]
    return (f"{label:<44} {statistics.median(ratios):.2f}× "
            f"(range {min(ratios):.2f}–{max(ratios):.2f} over {len(ratios)} rounds)")


async def main(args: argparse.Namespace) -> None:
    async with distributed.Client(args.scheduler, asynchronous=True) as client:
        # Warm up both paths (imports, connections, the workers' first calls).
        await dag(2, 1000, client)
        await dag(2, 1000, None)
        await dask_all_at_once(client, 20)
        await aiodag_all_at_once(client, 20)

        threads: list[float] = []
        cluster_times: list[float] = []
        dask_seq: list[float] = []
        aiodag_seq: list[float] = []
        dask_batch: list[float] = []
        aiodag_batch: list[float] = []
        dask_awaited: list[float] = []
        for r in range(args.rounds):
            # Alternate which goes first, so drift on a shared machine evens out.
            pairs: list[tuple[list[float], Callable[[], Awaitable[Any]]]] = [
                (threads, lambda: dag(args.fanout, args.work, None)),
                (cluster_times, lambda: dag(args.fanout, args.work, client)),
            ]
            overhead: list[tuple[list[float], Callable[[], Awaitable[Any]]]] = [
                (dask_seq, lambda: dask_one_by_one(client, args.calls)),
                (aiodag_seq, lambda: aiodag_one_by_one(client, args.calls)),
                (dask_batch, lambda: dask_all_at_once(client, args.calls)),
                (aiodag_batch, lambda: aiodag_all_at_once(client, args.calls)),
                (dask_awaited, lambda: dask_all_at_once_awaited(client, args.calls)),
            ]
            if r % 2:
                pairs.reverse()
                overhead = [overhead[1], overhead[0], overhead[4], overhead[3],
                            overhead[2]]
            for times, run in pairs + overhead:
                times.append(await timed(run))


    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores "
          "(other work on the machine leaves fewer cores to the workers)")
    print(f"CPU-bound DAG: {args.fanout} × crunch(work={args.work:,}) → combine; "
          f"{args.rounds} rounds, GC on")
    print(summary("(a) thread pool (one process)", threads))
    print(summary("(b) Run(executor=client), 2 workers", cluster_times))
    print(ratio("speed-up (a)/(b)", threads, cluster_times))
    print()
    print(f"Cost per call: {args.calls} calls of tiny(i)")
    print(summary("(c) Dask, one by one: await client.submit", dask_seq, args.calls, "µs"))
    print(summary("(d) aiodag, one by one: await task(...)(i)", aiodag_seq, args.calls, "µs"))
    print(ratio("one by one (d)/(c)", aiodag_seq, dask_seq))
    print(summary("(c) Dask, all at once: submit + gather", dask_batch, args.calls, "µs"))
    print(summary("(d) aiodag, all at once: tasks + gather", aiodag_batch, args.calls, "µs"))
    print(ratio("all at once (d)/(c)", aiodag_batch, dask_batch))
    print(summary("(c') Dask, all at once: each future awaited", dask_awaited, args.calls,
                  "µs"))
    print(ratio("all at once (d)/(c')", aiodag_batch, dask_awaited))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--fanout", type=int, default=8)
    parser.add_argument("--work", type=int, default=2_000_000)
    parser.add_argument("--calls", type=int, default=200)
    # The scheduler runs on its own loop (in a thread of the cluster), as it would on
    # its own machine: not on the pipeline's loop, where its work would be timed too.
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0", worker_dashboard_address=None,
    ) as cluster:
        arguments = parser.parse_args()
        arguments.scheduler = cluster.scheduler_address
        asyncio.run(main(arguments))
