"""Regenerate the README's figures: runs made by aiodag, drawn by aiodag.viz.

    python docs/make_figures.py

Writes next to this script (needs Graphviz's ``dot``):

* ``pipeline.svg``/``.png``/``.mmd`` — the seed's ETL pipeline (speed 0.1: a tenth of
  the seed's sleep times, so its timings are a tenth of the seed figure's);
* ``fanout.png`` — 50 fetches, each parsed, all stored, 3 fetches failing: drawn
  stacked;
* ``spawned.png`` — a crawler whose tasks call more tasks from their bodies;
* ``failures.png`` — a failure, the tasks it stopped, a cancellation, an exogenous
  dependency.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiodag
from aiodag import task, viz
from aiodag.demo import etl_pipeline

HERE = Path(__file__).resolve().parent


async def etl_run(speed: float = 0.1) -> aiodag.Run:
    """Run the seed's ETL pipeline and return its finished record."""
    async with aiodag.Run("etl") as run:
        etl_pipeline(speed)
    return run


async def fanout_run(n: int = 50, failing: tuple[int, ...] = (7, 23, 41)) -> aiodag.Run:
    """``n`` fetches, each parsed, all parses stored; the fetches in ``failing`` fail."""

    @task
    async def fetch(i: int) -> str:
        await asyncio.sleep(0.01 + (i % 7) * 0.004)
        if i in failing:
            raise TimeoutError(f"page {i} timed out")
        return f"page {i}"

    @task
    async def parse(page: str) -> int:
        await asyncio.sleep(0.005)
        return len(page)

    @task
    async def store(*sizes: int) -> int:
        await asyncio.sleep(0.01)
        return sum(sizes)

    @task
    async def store_ok() -> None:
        await asyncio.sleep(0.002)

    async with aiodag.Run("fan-out", raise_errors=False) as run:
        parsed = [parse(fetch(i)) for i in range(n)]
        store(*parsed)
    return run


async def spawned_run() -> aiodag.Run:
    """A crawler: each ``crawl`` task calls ``fetch`` tasks from its body."""

    @task
    async def fetch(url: str) -> str:
        await asyncio.sleep(0.02 + 0.01 * len(url) % 0.03)
        return f"<html>{url}</html>"

    @task
    async def crawl(site: str, pages: int) -> int:
        await asyncio.sleep(0.005)
        bodies = [fetch(f"{site}/{i}") for i in range(pages)]
        return sum(len(b) for b in await asyncio.gather(*bodies))

    @task
    async def report(*counts: int) -> int:
        await asyncio.sleep(0.005)
        return sum(counts)

    async with aiodag.Run("crawler") as run:
        report(crawl("a.org", 2), crawl("b.org", 6))
    return run


async def failures_run() -> aiodag.Run:
    """One task fails, its dependents do not run, one is cancelled, one waits (exogenous)."""

    @task
    async def load(key: str) -> str:
        await asyncio.sleep(0.02)
        if key == "bad":
            raise ValueError(f"no such key: {key!r}")
        return key

    @task
    async def publish(data: object) -> None:
        await asyncio.sleep(0.01)

    @task
    async def watch() -> None:
        await asyncio.sleep(3600)

    async with aiodag.Run("failures", raise_errors=False) as run:
        good, bad = load("good"), load("bad")
        publish(bad)
        watcher = watch()
        task(publish, good)("report")  # exogenous: waits for `good`, is not given it
        publish(watcher)
        await asyncio.sleep(0.05)
        watcher.cancel()
    return run


def main() -> None:
    etl = asyncio.run(etl_run())
    for suffix in (".svg", ".png", ".mmd"):
        path = (viz.render if suffix != ".mmd" else _mermaid)(etl, HERE / f"pipeline{suffix}")
        print(f"wrote {path.relative_to(HERE.parent)}")
    print("critical path:", " → ".join(t.label for t in etl.critical_path()))
    for name, make in (("fanout", fanout_run), ("spawned", spawned_run),
                       ("failures", failures_run)):
        path = viz.render(asyncio.run(make()), HERE / f"{name}.png")
        print(f"wrote {path.relative_to(HERE.parent)}")


def _mermaid(run: aiodag.Run, path: Path) -> Path:
    path.write_text(viz.to_mermaid(run) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    main()
