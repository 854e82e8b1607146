"""Tests for the drawing's structure: stacked fan-outs, spawned tasks, the legend,
branch order and node sizes."""

from __future__ import annotations

import asyncio
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodag import Run, task, viz
from aiodag.demo import etl_pipeline
from aiodag.viz.drawing import task_drawing
from aiodag.viz.model import Snapshot
from aiodag.viz.options import Options
from aiodag.viz.stacks import sibling_groups
from aiodag.viz.text import format_seconds

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs"))
import make_figures
from test_viz import SVG, FakeRun, FakeTask, attr, dot_edges, dot_nodes, parse_svg


def _node_boxes(svg_bytes: bytes) -> dict[str, tuple[float, float, float, float]]:
    """Node name -> (left, top, width, height) of its outline, from the SVG."""
    svg = parse_svg(svg_bytes)
    boxes = {}
    for name, node in svg.nodes.items():
        numbers: list[float] = []
        for shape in node.iter():
            if shape.tag in (f"{SVG}path", f"{SVG}polygon"):
                text = shape.get("d") or shape.get("points") or ""
                numbers += [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", text)]
        xs, ys = numbers[0::2], numbers[1::2]
        boxes[name] = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
    return boxes


# -- fan-outs ---------------------------------------------------------------------------


def test_fan_out_is_stacked_with_counts_and_spread() -> None:
    """50 fetches → 50 parses → store: three nodes, counted edges, statuses in the title."""
    run = asyncio.run(make_figures.fanout_run(n=50, failing=(7, 23, 41)))
    source = viz.to_graphviz(run).source
    nodes, edges = dot_nodes(source), dot_edges(source)
    assert len(nodes) == 3
    fetch_id = min(t.id for t in run.tasks if t.name == "fetch")
    parse_id = min(t.id for t in run.tasks if t.name == "parse")
    store = next(t for t in run.tasks if t.name == "store")
    fetch, parse = f"s{fetch_id}", f"s{parse_id}"
    assert attr(nodes[fetch], "class") in ("stack failed", "stack failed critical")
    assert '<B>fetch ×50<BR ALIGN="CENTER"/>(3 failed)</B>' in nodes[fetch]
    assert "TimeoutError" in nodes[fetch]
    assert "(3 upstream_failed)" in nodes[parse]
    durations = sorted(t.duration for t in run.tasks if t.name == "fetch" and t.duration)
    fmt = format_seconds
    assert f"ran {fmt(durations[0])}–{fmt(durations[-1])}" in nodes[fetch]
    assert attr(nodes[fetch], "shape") == "box3d"
    assert {k: attr(a, "label") for k, a in edges.items()} == {
        (fetch, parse): "×50",
        (parse, str(store.id)): "×50",
    }
    # The full drawing is one option away.
    assert len(dot_nodes(viz.to_graphviz(run, stack=0).source)) == 101


async def test_small_groups_stay_one_node_per_call() -> None:
    """Four siblings are below the default threshold of five; stack=4 stacks them."""

    @task
    async def leaf(i: int) -> int:
        return i

    @task
    async def join(*xs: int) -> int:
        return sum(xs)

    async with Run("four") as run:
        join(*[leaf(i) for i in range(4)])
    assert len(dot_nodes(viz.to_graphviz(run).source)) == 5
    assert len(dot_nodes(viz.to_graphviz(run, stack=4).source)) == 2


def test_etl_is_not_stacked() -> None:
    """The seed's pipeline has no five alike calls: one node per call, as before."""

    async def etl() -> Run:
        async with Run("etl") as run:
            etl_pipeline(0.01)
        return run

    run = asyncio.run(etl())
    assert set(dot_nodes(viz.to_graphviz(run).source)) == {str(t.id) for t in run.tasks}


tasks_and_deps = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.booleans()),
                 max_size=3 * n),
        st.lists(st.integers(0, 2), min_size=n, max_size=n),
        st.lists(st.integers(-1, n - 1), min_size=n, max_size=n),
    )
)


@settings(max_examples=150, deadline=None)
@given(tasks_and_deps, st.integers(0, 6))
def test_stacking_keeps_every_task_and_dependency(
    plan: tuple[int, list[tuple[int, int, bool]], list[int], list[int]], stack: int
) -> None:
    """Each task in exactly one node; edges count every dependency between nodes."""
    n, links, names, callers = plan
    deps: dict[int, list[tuple[int, str]]] = {i: [] for i in range(n)}
    for a, b, data in links:
        if a < b:
            deps[b].append((a, "data" if data else "exogenous"))
    tasks = [
        FakeTask(i, f"f{names[i]}", f"f{names[i]}({i})", deps=tuple(deps[i]),
                 caller_id=callers[i] if 0 <= callers[i] < i else None)
        for i in range(n)
    ]
    snap = Snapshot.of(FakeRun("p", tasks), critical_path=False, slack=False)
    drawing = task_drawing(snap, Options(stack=stack))
    members = Counter(i for node in drawing.nodes for i in node.task_ids)
    assert members == Counter(range(n))
    node_of = {i: node.name for node in drawing.nodes for i in node.task_ids}
    for node in drawing.nodes:
        assert node.kind == "task" or len(node.task_ids) >= max(stack, 2)
    expected = Counter(
        (node_of[up], node_of[t.id], kind)
        for t in tasks for up, kind in t.deps if node_of[up] != node_of[t.id]
    )
    expected.update(
        (node_of[t.caller_id], node_of[t.id], "spawned")
        for t in tasks if t.caller_id is not None and node_of[t.caller_id] != node_of[t.id]
    )
    assert {(e.tail, e.head, e.kind): e.count for e in drawing.edges} == dict(expected)


# -- spawned tasks ----------------------------------------------------------------------


def test_spawned_tasks_hang_from_their_caller() -> None:
    """Tasks called in a task's body get a spawn edge from it; callers keep theirs apart."""
    run = asyncio.run(make_figures.spawned_run())
    source = viz.to_graphviz(run).source
    nodes, edges = dot_nodes(source), dot_edges(source)
    crawl_a, crawl_b = (t for t in run.tasks if t.name == "crawl")
    a_fetches = [t for t in run.tasks if t.caller_id == crawl_a.id]
    b_fetches = [t for t in run.tasks if t.caller_id == crawl_b.id]
    assert len(a_fetches) == 2 and len(b_fetches) == 6
    for t in a_fetches:  # two: drawn one by one
        assert attr(edges[str(crawl_a.id), str(t.id)], "class") == "spawned"
    stack = f"s{b_fetches[0].id}"  # six: stacked, only crawl('b.org') spawned them
    assert "<B>fetch ×6</B>" in nodes[stack]
    spawn = edges[str(crawl_b.id), stack]
    assert attr(spawn, "class") == "spawned" and attr(spawn, "label") == "×6"
    assert attr(spawn, "style") == "dashed"
    assert "spawned (called in its body)" in source
    assert "waits for (exogenous)" not in source


def test_spawned_tasks_in_the_aggregated_drawing() -> None:
    """Drawn by name, spawns are one counted edge from the caller's name."""
    run = asyncio.run(make_figures.spawned_run())
    source = viz.to_graphviz(run, aggregate=True).source
    names = {attr(a, "tooltip"): n for n, a in dot_nodes(source).items()}
    edges = dot_edges(source)
    spawn = edges[names["crawl"], names["fetch"]]
    assert attr(spawn, "class") == "spawned" and attr(spawn, "label") == "×8"
    assert attr(edges[names["crawl"], names["report"]], "label") == "×2"


def test_spawned_in_a_rebuilt_run() -> None:
    """A record giving caller_id (as runs read back from traces do) draws the same."""
    run = FakeRun("rebuilt", [
        FakeTask(1, "crawl", "crawl()"),
        FakeTask(2, "fetch", "fetch(1)", caller_id=1),
        FakeTask(3, "fetch", "fetch(2)", caller_id=1),
    ])
    edges = dot_edges(viz.to_graphviz(run).source)
    assert {k: attr(a, "class") for k, a in edges.items()} == {
        ("1", "2"): "spawned", ("1", "3"): "spawned",
    }


# -- the legend, order and sizes ----------------------------------------------------------


async def _etl() -> Run:
    async with Run("etl") as run:
        etl_pipeline(0.02)
    return run


def test_legend_lists_only_what_is_drawn() -> None:
    """No zero counts, no edge kinds that are not there; what is there is listed."""
    etl = viz.to_graphviz(asyncio.run(_etl())).source
    label = etl.split("label=<<TABLE", 1)[1].split("</TABLE>>", 1)[0]
    assert "ok 14" in label and "critical path" in label
    for absent in ("failed", "pending", "running", "cancelled", "exogenous", "spawned",
                   "stacked", " 0<"):
        assert absent not in label
    failures = viz.to_graphviz(asyncio.run(make_figures.failures_run())).source
    for present in ("ok 2", "failed 1", "upstream_failed 1", "cancelled 2",
                    "waits for (exogenous)", "critical path"):
        assert present in failures
    assert "pending" not in failures and "spawned" not in failures
    fanout = viz.to_graphviz(asyncio.run(make_figures.fanout_run(n=10, failing=()))).source
    assert "sibling calls, stacked" in fanout


@pytest.mark.dot
def test_branches_keep_call_order_and_names_keep_their_size() -> None:
    """fetch a1 … c2 in the order called (down, or across); one name, one node size."""
    run = asyncio.run(_etl())
    fetches = [t for t in run.tasks if t.name == "fetch"]
    first_concats = [t for t in run.tasks if t.name == "concatenate"][:3]
    for direction, axis in (("LR", 1), ("TB", 0)):
        svg = viz.to_graphviz(run, direction=direction).pipe(format="svg")
        boxes = _node_boxes(svg)
        assert [t.label for t in sorted(fetches, key=lambda t: boxes[str(t.id)][axis])] == [
            t.label for t in fetches
        ]
        starts = [boxes[str(t.id)][axis] for t in first_concats]
        assert starts == sorted(starts)
    for name in ("fetch", "concatenate", "strip_numbers"):
        sizes = {boxes[str(t.id)][2:] for t in run.tasks if t.name == name}
        assert len(sizes) == 1, (name, sizes)
    # A failed task with a long error type stays the size of its siblings.
    tasks = [FakeTask(i, "load", f"load({i})") for i in range(3)]
    tasks.append(FakeTask(3, "load", "load(3)", status="failed",
                          error_type="VeryLongDescriptiveErrorNameFromSomeLibraryError"))
    boxes = _node_boxes(viz.to_graphviz(FakeRun("f", tasks), stack=0).pipe(format="svg"))
    assert len({box[2:] for box in boxes.values()}) == 1


@pytest.mark.dot
def test_the_command_stacks_and_can_draw_every_call(tmp_path: Path) -> None:
    """aiodag run draws the fan-out stacked; render --stack 0 draws every call."""
    from aiodag.cli import main

    pipeline = tmp_path / "fan.py"
    pipeline.write_text(
        "from aiodag import task\n\n"
        "@task\nasync def fetch(i):\n    return i\n\n"
        "@task\nasync def total(*xs):\n    return sum(xs)\n\n"
        "async def main():\n    await total(*[fetch(i) for i in range(8)])\n",
        encoding="utf-8",
    )
    assert main(["run", str(pipeline), "--out", str(tmp_path / "out")]) == 0
    stacked = parse_svg((tmp_path / "out" / "pipeline.svg").read_bytes())
    assert len(stacked.nodes) == 2
    trace, full = tmp_path / "out" / "trace.jsonl", tmp_path / "full.dot"
    assert main(["render", str(trace), "-o", str(full), "--stack", "0"]) == 0
    assert len(dot_nodes(full.read_text(encoding="utf-8"))) == 9


@pytest.mark.parametrize(("label", "shown"), [
    ("store(parse#2, parse#4, parse#6)", "store(parse ×3)"),
    ("store(x, parse#2, parse#4, parse#6, y=1)", "store(x, parse ×3, y=1)"),
    ("store(parse#2, parse#4, pa…)", "store(parse ×3)"),  # cut short by the engine
    ("store(parse#2, parse#4, parse#6, xy…)", "store(parse ×3, xy…)"),
    ("f(parse#2, 1, parse#4)", "f(parse ×3, 1)"),
    ("g([parse#2, parse#4], k=parse#6)", "g([parse ×3])"),
    ("h(parse#22, parse#2)", "h(parse(x), parse ×3)"),  # #22 is not one of them
])
def test_references_into_a_stack_read_as_the_stack(label: str, shown: str) -> None:
    """A label naming several calls of one stack names the stack and its count."""
    tasks = [FakeTask(i, "parse", f"parse({i})") for i in (2, 4, 6, 8, 10)]
    tasks.append(FakeTask(22, "parse", "parse(x)"))
    deps = tuple((i, "data") for i in (2, 4, 6, 22))
    tasks.append(FakeTask(99, "store", label, deps=deps))
    snap = Snapshot.of(FakeRun("r", tasks), critical_path=False, slack=False)
    groups = [[0, 1, 2, 3, 4], [5], [6]]  # parse 2…10 stacked, parse 22 and the store not
    drawing = task_drawing(snap, Options(stack=5, wrap=80), groups)
    store = next(node for node in drawing.nodes if node.task_ids == (99,))
    assert store.title == [shown]


def _naive_sibling_groups(tasks: list[FakeTask], min_size: int) -> set[frozenset[int]]:
    """The coarsest partition, the slow obvious way: every round, every task's key."""
    index = {t.id: i for i, t in enumerate(tasks)}
    links: list[list[tuple[int, int, str]]] = [[] for _ in tasks]  # (other, direction, kind)
    for i, t in enumerate(tasks):
        pairs = [(index[up], kind) for up, kind in t.deps if up in index]
        if t.caller_id in index:
            pairs.append((index[t.caller_id], "spawned"))
        for j, kind in pairs:
            if j != i:
                links[i].append((j, 0, kind))
                links[j].append((i, 1, kind))
    block: list[object] = [t.name for t in tasks]
    while True:
        while True:
            keys = [
                (block[i], frozenset((block[j], d, k) for j, d, k in links[i]))
                for i in range(len(tasks))
            ]
            if len(set(keys)) == len(set(block)):
                break
            block = list(keys)
        sizes = Counter(block)
        if all(n == 1 or n >= min_size for n in sizes.values()):
            break
        block = [(b, i) if 1 < sizes[b] < min_size else b for i, b in enumerate(block)]
    groups: dict[object, set[int]] = {}
    for i, b in enumerate(block):
        groups.setdefault(b, set()).add(i)
    return {frozenset(g) for g in groups.values()}


@settings(max_examples=200, deadline=None)
@given(tasks_and_deps, st.integers(2, 6))
def test_sibling_groups_are_the_coarsest_partition(
    plan: tuple[int, list[tuple[int, int, bool]], list[int], list[int]], stack: int
) -> None:
    """The incremental refinement finds what the obvious one does, on random DAGs."""
    n, links, names, callers = plan
    deps: dict[int, list[tuple[int, str]]] = {i: [] for i in range(n)}
    for a, b, data in links:
        if a < b:
            deps[b].append((a, "data" if data else "exogenous"))
    tasks = [
        FakeTask(i, f"f{names[i]}", "f()", deps=tuple(deps[i]),
                 caller_id=callers[i] if 0 <= callers[i] < i else None)
        for i in range(n)
    ]
    found = sibling_groups(tasks, stack)
    assert [g[0] for g in found] == sorted(g[0] for g in found)
    assert {frozenset(g) for g in found} == _naive_sibling_groups(tasks, stack)
