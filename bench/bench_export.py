"""A large run traced to a file: every span arrives, and the export's memory stays bounded.

Runs N independent tasks (default 100,000; ``--tasks 1000000`` for the million) in a
``Run`` with an ``OpenTelemetrySink`` on ``configure(file=...)``, then counts the spans
in the file and reports the time and the peak memory (RSS) of the process, next to the
same run without tracing, measured first in the same process.

    python bench/bench_export.py [--tasks 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from aiodag import Run, task
from aiodag.trace import OpenTelemetrySink, configure, export_stats


@task
async def work(i: int) -> int:
    return i


async def pipeline(n: int, sinks: list[OpenTelemetrySink]) -> None:
    async with Run("big", sinks=sinks):
        for i in range(n):
            work(i)
            if i % 1000 == 999:
                await asyncio.sleep(0)  # let tasks run while more are called, as in life


def peak_mb() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    n = parser.parse_args().tasks

    start = time.perf_counter()
    asyncio.run(pipeline(n, []))
    bare_s, bare_mb = time.perf_counter() - start, peak_mb()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.jsonl"
        provider = configure(file=path, install=False)
        start = time.perf_counter()
        asyncio.run(pipeline(n, [OpenTelemetrySink(provider)]))
        provider.shutdown()
        traced_s, traced_mb = time.perf_counter() - start, peak_mb()
        [stats] = export_stats(provider)
        spans = 0
        with path.open() as lines:
            for line in lines:
                for rs in json.loads(line)["resourceSpans"]:
                    for scope in rs["scopeSpans"]:
                        spans += len(scope["spans"])
        size_mb = path.stat().st_size / 2**20

    print(f"{n:,} independent tasks in a Run, traced to an OTLP JSON file")
    print(f"  without tracing         {bare_s:7.1f} s   peak RSS {bare_mb:7.0f} MB")
    print(f"  traced to the file      {traced_s:7.1f} s   peak RSS {traced_mb:7.0f} MB "
          f"(file {size_mb:.0f} MB)")
    print(f"  spans in the file: {spans:,} of {n + 1:,} (tasks + the run); "
          f"exported {stats.exported:,}, dropped {stats.dropped:,}")
    assert spans == n + 1 and stats.dropped == 0


if __name__ == "__main__":
    main()
