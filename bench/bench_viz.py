"""Drawing large runs: the aggregated graph of a 100,000-task run, against plain ``dot``.

The run is real: the engine runs a layered DAG (layers of 100, each task depending on
two of the layer before, as in bench_engine.py) under four task names.  Timed, each
the best of several rounds (as timeit reports: the machine's noise only adds time):

* building the aggregated ``graphviz.Digraph`` (``aiodag.viz.to_graphviz``), of which
  the run's ``critical_path()`` (the engine's) is a part;
* ``dot -Tsvg`` on it;
* ``aiodag.viz.render(run, "x.svg")``: both, plus writing the file;
* the per-task drawing at the default aggregation threshold (500 tasks), for scale;
* baseline: ``dot -Tsvg`` on plain graphs of 1,000 and 3,000 nodes of the same shape,
  which is why runs above the threshold are aggregated.

    python bench/bench_viz.py [--tasks 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import graphviz
from bench_engine import WIDTH, upstreams_of

import aiodag
from aiodag import Run, task, viz
from aiodag.typing import Sink


@task
async def extract() -> int:
    return 1


@task
async def transform(a: int, b: int) -> int:
    return a + b


@task
async def merge(a: int, b: int) -> int:
    return a + b


@task
async def check(a: int, b: int) -> int:
    return a + b


_LAYER_TASKS = (transform, merge, check)


async def _layered_run(n: int, sinks: Sequence[Sink]) -> Run:
    async with Run("layered", sinks=sinks) as run:
        handles: list[aiodag.TaskHandle[int]] = []
        for i in range(n):
            if i < WIDTH:
                handles.append(extract())
            else:
                a, b = upstreams_of(i, WIDTH)
                fn = _LAYER_TASKS[(i // WIDTH) % len(_LAYER_TASKS)]
                handles.append(fn(handles[a], handles[b]))
    return run


def layered_run(n: int, sinks: Sequence[Sink] = ()) -> Run:
    """A finished run of ``n`` tasks, built and run by the engine (with ``sinks``)."""
    return asyncio.run(_layered_run(n, sinks))


def plain_graph(n: int) -> graphviz.Digraph:
    """A layered DAG of ``n`` nodes with short labels and no styling."""
    graph = graphviz.Digraph()
    for i in range(n):
        graph.node(str(i), label=f"t{i}")
        if i >= WIDTH:
            for up in upstreams_of(i, WIDTH):
                graph.edge(str(up), str(i))
    return graph


def best_time(fn: Callable[[], object], rounds: int) -> float:
    """The shortest of ``rounds`` timings of ``fn()``, in seconds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n, rounds = args.tasks, args.rounds
    print(f"graphviz package {graphviz.__version__}, dot {'.'.join(map(str, graphviz.version()))}, "
          f"Python {sys.version.split()[0]}; best of {rounds} rounds")

    start = time.perf_counter()
    run = layered_run(n)
    print(f"engine: ran the {n:,}-task layered DAG in {time.perf_counter() - start:.2f} s "
          f"(not part of the drawing)")
    assert len(run.tasks) == n

    graph = viz.to_graphviz(run)
    build = best_time(lambda: viz.to_graphviz(run), rounds)
    critical = best_time(run.critical_path, rounds)
    layout = best_time(lambda: graph.pipe(format="svg"), rounds)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "large.svg"
        total = best_time(lambda: viz.render(run, out), rounds)
        size = out.stat().st_size
    groups = len(re.findall(r"^\tg\d+ \[", graph.source, flags=re.MULTILINE))
    print(f"aggregated drawing of {n:,} tasks ({groups} task names):")
    print(f"  build Digraph        {build:7.3f} s   "
          f"(of which the engine's Run.critical_path() {critical:.3f} s)")
    print(f"  dot -Tsvg            {layout:7.3f} s")
    print(f"  render() to .svg     {total:7.3f} s   ({size:,} bytes)")

    small = layered_run(500)
    small_build = best_time(lambda: viz.to_graphviz(small, stack=0), rounds)
    small_graph = viz.to_graphviz(small, stack=0)
    small_dot = best_time(lambda: small_graph.pipe(format="svg"), rounds)
    print(f"per-task drawing of 500 tasks (the default threshold, stack=0): "
          f"build {small_build:.3f} s, dot {small_dot:.3f} s")
    # The largest run searched for fan-outs (4 × max_nodes): its layers of 100 calls
    # are siblings, so it draws as 20 stacked nodes.
    wide = layered_run(2_000)
    wide_build = best_time(lambda: viz.to_graphviz(wide), rounds)
    wide_graph = viz.to_graphviz(wide)
    wide_dot = best_time(lambda: wide_graph.pipe(format="svg"), rounds)
    stacks = wide_graph.source.count("shape=box3d")
    print(f"stacked drawing of 2,000 tasks ({stacks} stacks): build {wide_build:.3f} s, "
          f"dot {wide_dot:.3f} s")

    print("baseline, dot -Tsvg on plain layered graphs:")
    for size in (1_000, 3_000):
        plain = plain_graph(size)
        seconds = best_time(functools.partial(plain.pipe, format="svg"), rounds)
        print(f"  {size:>5,} nodes          {seconds:7.3f} s")


if __name__ == "__main__":
    main()
