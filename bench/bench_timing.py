"""Timing outputs of large runs: the timeline and the Perfetto trace, against the DAG drawing.

The runs are real: the engine runs the layered DAG of bench_viz.py (layers of 100, each
task depending on two of the layer before, four task names).  Timed, each the best of
several rounds (the machine's noise only adds time), in one process:

* ``aiodag.viz.timeline(run, "x.svg")`` (aggregated above 2,000 tasks, by default);
* ``aiodag.viz.timeline(run, "x.svg", aggregate=False)``: one bar per task;
* ``aiodag.perfetto.write(run, "x.json")``: every task and dependency;
* baseline: ``aiodag.viz.render(run, "x.svg")``, the aggregated DAG drawing of the
  same run, and the ratio of each line to it.

    python bench/bench_timing.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import matplotlib
from bench_viz import best_time, layered_run

from aiodag import perfetto, viz


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = args.rounds
    print(f"matplotlib {matplotlib.__version__}, Python {sys.version.split()[0]}; "
          f"best of {rounds} rounds (1 for the 10,000 bars)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for n in (10_000, 100_000):
            run = layered_run(n)
            base = best_time(lambda run=run: viz.render(run, out / "dag.svg"), rounds)
            print(f"{n:,} tasks: DAG drawing (aggregated, baseline) {base:.3f} s")
            lines = [
                ("timeline .svg (aggregated)",
                 lambda run=run: viz.timeline(run, out / "t.svg"), rounds, "t.svg"),
                ("perfetto .json",
                 lambda run=run: perfetto.write(run, out / "p.json"), rounds, "p.json"),
            ]
            if n <= 10_000:
                lines.insert(1, ("timeline .svg, one bar per task",
                                 lambda run=run: viz.timeline(run, out / "b.svg", aggregate=False),
                                 1, "b.svg"))
            for label, fn, repeat, name in lines:
                seconds = best_time(fn, repeat)
                size = (out / name).stat().st_size
                print(f"  {label:<34} {seconds:7.3f} s  {seconds / base:5.1f}× baseline  "
                      f"({size:,} bytes)")


if __name__ == "__main__":
    main()
