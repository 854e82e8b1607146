"""Regenerate the README's figures: the seed's ETL pipeline, run and drawn by aiodag.viz.

    python docs/make_figures.py

Writes ``docs/pipeline.svg`` and ``docs/pipeline.png`` next to this script (needs
Graphviz's ``dot``).  The run takes about a second (speed 0.1: a tenth of the seed's
sleep times), so the timings in the figure are a tenth of the seed figure's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiodag
from aiodag import viz
from aiodag.demo import etl_pipeline

HERE = Path(__file__).resolve().parent


async def etl_run(speed: float = 0.1) -> aiodag.Run:
    """Run the seed's ETL pipeline and return its finished record."""
    async with aiodag.Run("etl") as run:
        etl_pipeline(speed)
    return run


def main() -> None:
    run = asyncio.run(etl_run())
    for suffix in (".svg", ".png"):
        path = viz.render(run, HERE / f"pipeline{suffix}")
        print(f"wrote {path.relative_to(HERE.parent)}")
    print("critical path:", " → ".join(t.label for t in run.critical_path()))


if __name__ == "__main__":
    main()
