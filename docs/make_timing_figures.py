"""Regenerate the README's timing figures: a timeline, a run diff and a Perfetto trace.

    python docs/make_timing_figures.py

Runs the seed's ETL pipeline twice at speed 0.1 (about a second each) — as it is, and
with ``fetch('b1')`` slowed from 4 to 9 seconds (at speed 1), which moves the critical
path — and writes, next to this script:

* ``timeline.svg`` / ``.png``: the first run on a time axis (``aiodag.viz.timeline``);
* ``diff.svg`` / ``.png``: the second run against the first (``aiodag.viz.render_diff``);
* ``etl.perfetto.json``: the first run for ui.perfetto.dev (``aiodag.perfetto``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiodag
from aiodag import demo, perfetto, viz

HERE = Path(__file__).resolve().parent


async def etl_run(name: str, speed: float = 0.1) -> aiodag.Run:
    """Run the seed's ETL pipeline and return its finished record."""
    async with aiodag.Run(name) as run:
        demo.etl_pipeline(speed)
    return run


async def runs() -> tuple[aiodag.Run, aiodag.Run]:
    before = await etl_run("etl")
    original = demo.FETCH_SECONDS["b1"]
    demo.FETCH_SECONDS["b1"] = 9  # a slow dependency: fetch('b1') now decides the run
    try:
        after = await etl_run("etl, b1 slow")
    finally:
        demo.FETCH_SECONDS["b1"] = original
    return before, after


def main() -> None:
    before, after = asyncio.run(runs())
    written = []
    for suffix in (".svg", ".png"):
        written.append(viz.timeline(before, HERE / f"timeline{suffix}"))
        written.append(viz.render_diff(before, after, HERE / f"diff{suffix}"))
    written.append(perfetto.write(before, HERE / "etl.perfetto.json"))
    for path in written:
        print(f"wrote {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
