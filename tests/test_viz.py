"""Tests for aiodag.viz: the DOT graph, rendered files, escaping, aggregation, options."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import struct
import xml.etree.ElementTree as ET
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import graphviz
import pytest

import aiodag
from aiodag import Run, task, viz
from aiodag.demo import etl_pipeline
from aiodag.viz.text import format_seconds, format_slack, shorten, wrap

SVG = "{http://www.w3.org/2000/svg}"
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"


# -- helpers ----------------------------------------------------------------------------

_NODE = re.compile(r"^\t(\S+) \[(.*)\]$")
_EDGE = re.compile(r"^\t(\S+) -> (\S+)(?: \[(.*)\])?$")


def dot_nodes(source: str) -> dict[str, str]:
    """Node name -> its attribute list, from the DOT text (no binary needed)."""
    return {
        m[1].strip('"'): m[2]
        for line in source.splitlines()
        if (m := _NODE.match(line)) and m[1] not in ("graph", "node", "edge")
    }


def dot_edges(source: str) -> dict[tuple[str, str], str]:
    """(tail, head) -> attribute list, from the DOT text."""
    edges: dict[tuple[str, str], str] = {}
    for line in source.splitlines():
        if m := _EDGE.match(line):
            edges[m[1].strip('"'), m[2].strip('"')] = m[3] or ""
    return edges


def attr(attrs: str, name: str) -> str | None:
    """The value of one (simple) attribute in a DOT attribute list."""
    m = re.search(rf'(?:^| ){name}=("(?:[^"\\]|\\.)*"|\S+)', attrs)
    return None if m is None else m[1].strip('"')


@dataclass
class Svg:
    root: ET.Element
    nodes: dict[str, ET.Element]
    edges: dict[str, ET.Element]

    def label_text(self, name: str) -> list[str]:
        """The lines of a node's label (inside its tooltip link): call, error, numbers."""
        node = self.nodes[name]
        link = node.find(f"{SVG}g/{SVG}a")
        where = link if link is not None else node
        return [(t.text or "").replace("\xa0", " ") for t in where.iter(f"{SVG}text")]

    def call_text(self, name: str) -> list[str]:
        """The lines of the call alone: in the node's font size (11 pt)."""
        node = self.nodes[name]
        return [
            (t.text or "").replace("\xa0", " ")
            for t in node.iter(f"{SVG}text") if t.get("font-size") == "11.00"
        ]

    def facts(self, name: str) -> list[str]:
        """The small lines under the call (9 pt): id, timings, slack."""
        node = self.nodes[name]
        return [
            (t.text or "").replace("\xa0", " ")
            for t in node.iter(f"{SVG}text") if t.get("font-size") == "9.00"
        ]

    def classes(self, name: str) -> set[str]:
        return set(self.nodes[name].get("class", "").split())

    def header(self) -> str:
        graph = self.root.find(f"{SVG}g")
        assert graph is not None
        return " ".join((t.text or "").replace("\xa0", " ") for t in graph.findall(f"{SVG}text"))


def parse_svg(data: bytes) -> Svg:
    root = ET.fromstring(data)
    nodes: dict[str, ET.Element] = {}
    edges: dict[str, ET.Element] = {}
    for g in root.iter(f"{SVG}g"):
        kind = g.get("class", "").split()[:1]
        title = g.find(f"{SVG}title")
        if kind and title is not None and title.text is not None:
            if kind == ["node"]:
                nodes[title.text] = g
            elif kind == ["edge"]:
                edges[title.text] = g
    return Svg(root, nodes, edges)


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@dataclass
class FakeTask:
    """A task record as a run rebuilt from a trace could have it (no exception object)."""

    id: Hashable
    name: str
    label: str
    deps: tuple[tuple[Hashable, str], ...] = ()
    status: str = "ok"
    started: float | None = 0.0
    finished: float | None = 1.0
    error: BaseException | None = None
    error_type: str | None = None
    error_message: str | None = None
    caller_id: Hashable | None = None

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


@dataclass
class FakeRun:
    name: str
    tasks: list[FakeTask]
    makespan: float = 1.0
    running: bool = False
    path: list[Hashable] = field(default_factory=list)

    def critical_path(self) -> Sequence[FakeTask]:
        by_id = {t.id: t for t in self.tasks}
        return [by_id[i] for i in self.path]


async def _etl(speed: float) -> Run:
    async with Run("etl") as run:
        etl_pipeline(speed)
    return run


@pytest.fixture(scope="module")
def etl_run() -> Run:
    """The seed's ETL pipeline, run once (speed 0.05: about 0.45 s)."""
    return asyncio.run(_etl(0.05))


# -- the seed's ETL run ----------------------------------------------------------------


def test_etl_dot_has_a_node_per_task_and_an_edge_per_dependency(etl_run: Run) -> None:
    """14 nodes named by task id, 14 edges upstream -> dependent; no binary involved."""
    source = viz.to_graphviz(etl_run).source
    nodes, edges = dot_nodes(source), dot_edges(source)
    assert (len(nodes), len(edges)) == (14, 14)
    assert set(nodes) == {str(t.id) for t in etl_run.tasks}
    assert set(edges) == {(str(up), str(t.id)) for t in etl_run.tasks for up, _ in t.deps}


def test_etl_critical_path_is_marked(etl_run: Run) -> None:
    """fetch('c1') -> concatenate -> strip_numbers -> upload: nodes and edges stand out."""
    path = etl_run.critical_path()
    assert path[0].label == "fetch('c1')"
    assert [t.name for t in path] == ["fetch", "concatenate", "strip_numbers", "upload"]
    source = viz.to_graphviz(etl_run).source
    nodes, edges = dot_nodes(source), dot_edges(source)
    critical_nodes = {n for n, a in nodes.items() if "critical" in (attr(a, "class") or "")}
    critical_edges = {e for e, a in edges.items() if "critical" in (attr(a, "class") or "")}
    assert critical_nodes == {str(t.id) for t in path}
    assert critical_edges == {(str(a.id), str(b.id)) for a, b in itertools.pairwise(path)}
    for name in critical_nodes:
        assert attr(nodes[name], "penwidth") == "3"
    for name in set(nodes) - critical_nodes:
        assert attr(nodes[name], "penwidth") is None

    plain = viz.to_graphviz(etl_run, critical_path=False).source
    assert "critical" not in plain


@pytest.mark.dot
def test_etl_svg_shows_tasks_edges_labels_and_timings(etl_run: Run, tmp_path: Path) -> None:
    """The rendered SVG has every task and edge, the call labels, and the timings."""
    path = viz.render(etl_run, tmp_path / "etl.svg")
    assert path == tmp_path / "etl.svg"
    svg = parse_svg(path.read_bytes())
    assert set(svg.nodes) == {str(t.id) for t in etl_run.tasks}
    assert set(svg.edges) == {f"{up}->{t.id}" for t in etl_run.tasks for up, _ in t.deps}
    fetch = {t.label[7:9]: t.id for t in etl_run.tasks if t.name == "fetch"}
    concats = [t.id for t in etl_run.tasks if t.name == "concatenate"]
    # Upstreams with short calls of their own are written out, one level deep; the
    # others are named by id, and their nodes show that id.
    calls = {
        concats[0]: "concatenate(fetch('a1'), fetch('a2'))",
        concats[1]: "concatenate(fetch('b1'), fetch('b2'))",
        concats[2]: "concatenate(fetch('c1'), fetch('c2'))",
        concats[3]: f"concatenate(concatenate#{concats[0]}, concatenate#{concats[1]})",
    }
    referenced = set(concats) | {t.id for t in etl_run.tasks if t.name == "strip_numbers"}
    for t in etl_run.tasks:
        name = str(t.id)
        assert squash("".join(svg.call_text(name))) == squash(shorten(calls.get(t.id, t.label), 60))
        assert t.duration is not None and t.finished is not None
        ran = f"ran {format_seconds(t.duration)}"
        assert svg.facts(name) == [
            f"#{t.id} · {ran}" if t.id in referenced else ran,
            f"ended at {format_seconds(t.finished)}",
        ]
        assert "ok" in svg.classes(name)
    assert fetch.keys() == {"a1", "a2", "b1", "b2", "c1", "c2"}
    assert "etl" in svg.header()
    assert "14 tasks" in svg.header()
    assert "ok 14" in svg.header()
    critical = {str(t.id) for t in etl_run.critical_path()}
    assert {n for n in svg.nodes if "critical" in svg.classes(n)} == critical
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


@pytest.mark.dot
def test_etl_png_is_a_valid_image_of_sane_size(etl_run: Run, tmp_path: Path) -> None:
    """PNG signature, and an IHDR of a few hundred to a few thousand pixels a side."""
    data = viz.render(etl_run, tmp_path / "etl.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert 400 < width < 4000
    assert 400 < height < 4000
    assert len(data) > 10_000


@pytest.mark.dot
def test_etl_pdf(etl_run: Run, tmp_path: Path) -> None:
    """A PDF file: header and end-of-file marker."""
    data = viz.render(etl_run, tmp_path / "etl.pdf").read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")


@pytest.mark.parametrize("suffix", [".dot", ".gv", ".GV"])
def test_dot_and_gv_files_are_the_source(etl_run: Run, tmp_path: Path, suffix: str) -> None:
    """.dot/.gv write the DOT source itself."""
    path = viz.render(etl_run, tmp_path / f"etl{suffix}", direction="LR")
    assert path.read_text(encoding="utf-8") == viz.to_graphviz(etl_run, direction="LR").source


def test_unknown_suffix_lists_the_formats(etl_run: Run, tmp_path: Path) -> None:
    """An unknown suffix is refused with the valid choices, and nothing is written."""
    with pytest.raises(ValueError, match=r"\.jpeg.*must be one of \['\.svg', '\.png'"):
        viz.render(etl_run, tmp_path / "etl.jpeg")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.dot
def test_digraph_displays_in_jupyter(etl_run: Run) -> None:
    """The Digraph's _repr_mimebundle_ gives the SVG Jupyter shows."""
    bundle = viz.to_graphviz(etl_run)._repr_mimebundle_()
    svg = parse_svg(bundle["image/svg+xml"].encode())
    assert len(svg.nodes) == 14


# -- options ----------------------------------------------------------------------------


def test_direction_and_title_options(etl_run: Run) -> None:
    """direction sets rankdir; title/legend off leave no graph label."""
    assert "rankdir=LR" in viz.to_graphviz(etl_run).source
    assert "rankdir=TB" in viz.to_graphviz(etl_run, direction="TB").source
    bare = viz.to_graphviz(etl_run, title=False, legend=False).source
    assert "\tlabel=" not in bare  # no graph label
    no_legend = viz.to_graphviz(etl_run, legend=False).source
    assert "etl" in no_legend and "ok 14" not in no_legend
    no_timings = viz.to_graphviz(etl_run, timings=False).source
    assert "ran " not in no_timings and "ended at" not in no_timings


def test_bad_options_name_the_valid_choices(etl_run: Run) -> None:
    """Errors say what is wrong and what would be right."""
    with pytest.raises(ValueError, match=r"direction: 'down' \(must be one of \['TB', 'LR'"):
        viz.to_graphviz(etl_run, direction="down")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"unknown option: 'colour' \(must be among \['direction'"):
        viz.to_graphviz(etl_run, colour="red")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="max_nodes must be an integer >= 0"):
        viz.to_graphviz(etl_run, max_nodes=-1)
    with pytest.raises(TypeError, match="slack must be True or False"):
        viz.to_graphviz(etl_run, slack="yes")  # type: ignore[arg-type]


def test_slack_is_shown_and_about_zero_on_the_critical_path(etl_run: Run) -> None:
    """slack=True adds a slack line; the critical path's tasks have (almost) none."""
    source = viz.to_graphviz(etl_run, slack=True).source
    nodes = dot_nodes(source)
    slack = viz.compute_slack(etl_run.tasks, etl_run.makespan)
    assert set(slack) == {t.id for t in etl_run.tasks}
    critical = {t.id for t in etl_run.critical_path()}
    for t in etl_run.tasks:
        shown = "0" if t.id in critical else format_slack(slack[t.id], etl_run.makespan)
        assert f"slack {shown}<" in nodes[str(t.id)]
    for t in etl_run.critical_path():
        assert slack[t.id] < 0.02  # computed: the engine's microseconds between tasks
    # fetch('a1') ends at 0.05 s; concatenate(a1, a2) may start as late as 0.25 s (it
    # must end by 0.30 s, when concatenate(ca, cb) must start to end the run at 0.45 s).
    a1 = next(t for t in etl_run.tasks if t.label == "fetch('a1')")
    assert 0.17 < slack[a1.id] < 0.23
    assert "slack" not in viz.to_graphviz(etl_run).source


def test_slack_is_total_slack() -> None:
    """Latest finish propagates back through the DAG (total, not just free, slack)."""
    run = FakeRun("s", [
        FakeTask(1, "a", "a()", started=0.0, finished=1.0),
        FakeTask(2, "b", "b(a)", deps=((1, "data"),), started=1.0, finished=2.0),
        FakeTask(3, "x", "x()", started=0.0, finished=3.0),
        FakeTask(4, "c", "c(b)", deps=((2, "exogenous"),), started=2.0, finished=2.5),
        FakeTask(5, "u", "u(a)", deps=((1, "data"),), status="upstream_failed", started=None),
    ], makespan=3.0)
    assert viz.compute_slack(run.tasks, run.makespan) == {1: 0.5, 2: 0.5, 3: 0.0, 4: 0.5}
    # Records listed out of dependency order (a rebuilt run) give the same answer.
    assert viz.compute_slack(run.tasks[::-1], run.makespan) == {1: 0.5, 2: 0.5, 3: 0.0, 4: 0.5}


def test_max_nodes_threshold(etl_run: Run) -> None:
    """Above max_nodes tasks the drawing is aggregated; aggregate= forces either way."""
    assert set(dot_nodes(viz.to_graphviz(etl_run, max_nodes=14).source)) == {
        str(t.id) for t in etl_run.tasks
    }
    assert set(dot_nodes(viz.to_graphviz(etl_run, max_nodes=13).source)) == {
        "g0", "g1", "g2", "g3"
    }
    assert len(dot_nodes(viz.to_graphviz(etl_run, aggregate=False, max_nodes=0).source)) == 14


# -- aggregation --------------------------------------------------------------------------


def test_aggregated_etl_counts_tasks_and_dependencies(etl_run: Run) -> None:
    """One node per task name with its count; edges count the dependencies they stand for."""
    source = viz.to_graphviz(etl_run, aggregate=True).source
    nodes, edges = dot_nodes(source), dot_edges(source)
    names = {attr(a, "tooltip"): n for n, a in nodes.items()}
    assert set(names) == {"fetch", "concatenate", "strip_numbers", "upload"}
    for name, count in [("fetch", 6), ("concatenate", 4), ("strip_numbers", 3), ("upload", 1)]:
        label = nodes[names[name]]
        assert f"{count} task{'s' if count > 1 else ''}" in label
        assert f"ok {count}" in label
    counts = {(k[0], k[1]): attr(a, "label") for k, a in edges.items()}
    assert counts == {
        (names["fetch"], names["concatenate"]): "×6",
        (names["concatenate"], names["concatenate"]): "×2",
        (names["concatenate"], names["strip_numbers"]): "×3",
        (names["strip_numbers"], names["upload"]): "×3",
    }
    fetch_total = sum(t.duration or 0 for t in etl_run.tasks if t.name == "fetch")
    assert f"total {format_seconds(fetch_total)}" in nodes[names["fetch"]]
    assert all("critical" in (attr(a, "class") or "") for a in nodes.values())
    assert "drawn as 4 task names (aggregate=True)" in source


@task
async def _leaf() -> int:
    return 1


@task
async def _join(a: int, b: int) -> int:
    return a + b


@task
async def _gate(ready: asyncio.Event) -> None:
    await ready.wait()


def _layered(n: int, width: int) -> list[aiodag.TaskHandle[int]]:
    handles: list[aiodag.TaskHandle[int]] = []
    for i in range(n):
        if i < width:
            handles.append(_leaf())
        else:
            base = (i // width - 1) * width
            j = i % width
            handles.append(_join(handles[base + j], handles[base + (j + 1) % width]))
    return handles


@pytest.mark.dot
async def test_large_run_is_aggregated(tmp_path: Path) -> None:
    """A 6,000-task run draws as its 2 task names, with exact counts, and renders."""
    async with Run("large") as run:
        _layered(6_000, 100)
    source = viz.to_graphviz(run).source
    nodes, edges = dot_nodes(source), dot_edges(source)
    assert set(nodes) == {"g0", "g1"}
    assert "100 tasks" in nodes["g0"] and "ok 100" in nodes["g0"]
    assert "5,900 tasks" in nodes["g1"] and "ok 5,900" in nodes["g1"]
    assert {k[:2]: attr(a, "label") for k, a in edges.items()} == {
        ("g0", "g1"): "×200",
        ("g1", "g1"): "×11,600",
    }
    assert "6,000 tasks" in source and "more than 500 tasks" in source
    svg = parse_svg(viz.render(run, tmp_path / "large.svg").read_bytes())
    assert set(svg.nodes) == {"g0", "g1"}
    assert len(svg.edges) == 2


async def test_aggregated_counts_hold_mid_run() -> None:
    """Counts in an aggregated drawing of a run in progress add up, by status."""
    ready = asyncio.Event()
    async with Run("mid") as run:
        gate = _gate(ready)
        leaves = [_leaf() for _ in range(3)]
        waiting = [task(_leaf, gate)() for _ in range(2)]
        await asyncio.gather(*leaves)
        await asyncio.sleep(0)
        source = viz.to_graphviz(run, aggregate=True).source
        ready.set()
        await asyncio.gather(*waiting)
    nodes = {attr(a, "tooltip"): a for a in dot_nodes(source).values()}
    assert "1 task" in nodes["_gate"] and "running 1" in nodes["_gate"]
    assert "5 tasks" in nodes["_leaf"]
    assert "ok 3 · pending 2" in nodes["_leaf"]
    assert "6 tasks, running" in source
    assert "ok 3<" in source and "running 1<" in source and "pending 2<" in source


# -- a run in progress, failures, exogenous dependencies --------------------------------


@pytest.mark.dot
async def test_run_in_progress_shows_pending_and_running(tmp_path: Path) -> None:
    """Mid-run: done tasks ok, the started one running, its dependents pending."""
    ready = asyncio.Event()
    async with Run("progress") as run:
        a = _leaf()
        await a
        g = _gate(ready)
        await asyncio.sleep(0)
        b = task(_join, g)(a, a)
        svg = parse_svg(viz.render(run, tmp_path / "mid.svg").read_bytes())
        source = viz.to_graphviz(run).source
        ready.set()
    assert svg.classes(str(a.id)) == {"node", "ok"}
    assert svg.classes(str(g.id)) == {"node", "running"}
    assert svg.classes(str(b.id)) == {"node", "pending"}
    assert svg.facts(str(g.id))[0].startswith("running ")
    assert svg.facts(str(g.id))[1].startswith("since ")
    assert svg.facts(str(b.id)) == ["waiting"]
    header = svg.header()
    assert "3 tasks, running, makespan" in header and "so far" in header
    assert "ok 1" in header and "running 1" in header and "pending 1" in header
    assert "critical" not in source  # drawn (and in the legend) once the run has finished
    assert 'style="rounded,filled,dashed"' in dot_nodes(source)[str(b.id)]


@task
async def _load(key: str) -> str:
    if key == "bad":
        raise ValueError(f"no such key: {key!r}")
    return key


@task
async def _publish(data: object) -> None:
    await asyncio.sleep(0)


@task
async def _forever() -> None:
    await asyncio.sleep(3600)


@pytest.mark.dot
async def test_failures_cancellation_and_exogenous_edges(tmp_path: Path) -> None:
    """Failed nodes show their error type; exogenous edges are dotted, data edges not."""
    async with Run("failures", raise_errors=False) as run:
        good, bad = _load("good"), _load("bad")
        skipped = _publish(bad)
        forever = _forever()
        after = task(_publish, good)(forever)
        exo = task(_publish, good)("x")
        await asyncio.sleep(0.01)
        forever.cancel()
    source = viz.to_graphviz(run).source
    nodes, edges = dot_nodes(source), dot_edges(source)
    assert attr(nodes[str(bad.id)], "class") == "failed"
    assert attr(nodes[str(skipped.id)], "class") == "upstream_failed"
    assert attr(nodes[str(forever.id)], "class") in ("cancelled", "cancelled critical")
    assert attr(nodes[str(after.id)], "class") in ("cancelled", "cancelled critical")
    assert attr(nodes[str(exo.id)], "class") == "ok"
    exo_edge = edges[str(good.id), str(exo.id)]
    assert attr(exo_edge, "style") == "dotted"
    assert attr(edges[str(forever.id), str(after.id)], "style") is None  # data

    svg = parse_svg(viz.render(run, tmp_path / "failures.svg").read_bytes())
    assert svg.label_text(str(bad.id))[:2] == ["_load('bad')", "ValueError"]
    assert svg.label_text(str(bad.id))[2].startswith("ran ")
    assert "".join(svg.call_text(str(skipped.id))) == "_publish(_load('bad'))"
    assert svg.facts(str(skipped.id))[0] == "did not run"
    tooltip = svg.nodes[str(bad.id)].find(f"{SVG}g/{SVG}a")
    assert tooltip is not None
    assert tooltip.get(XLINK_TITLE) == (
        f"#{bad.id} _load('bad')\nfailed\nValueError: no such key: 'bad'"
    )
    dashed = svg.edges[f"{good.id}->{exo.id}"].find(f"{SVG}path")
    solid = svg.edges[f"{bad.id}->{skipped.id}"].find(f"{SVG}path")
    assert dashed is not None and dashed.get("stroke-dasharray")
    assert solid is not None and solid.get("stroke-dasharray") is None
    assert "failed 1" in svg.header() and "upstream_failed 1" in svg.header()


# -- escaping ---------------------------------------------------------------------------

HOSTILE = [
    'say("hi")',
    "a\\b\\",
    "<b>bold</b>",
    "} digraph x {",
    "{a|b}",
    "x\"] ; 99 [label=\"pwn",
    "<x> -> <y>",
    r"left\l\N\G\E\T\H\L",
    "ünïcødé ✓ 数据 🚀",
    "&amp; &lt;",
    "]]> <!-- -->",
    "\\\"",
]


@pytest.mark.dot
def test_hostile_labels_stay_text(capfd: pytest.CaptureFixture[str]) -> None:
    """Quotes, backslashes, <b>, braces, escapes, unicode: dot parses, text is literal."""
    tasks = [
        FakeTask(i + 1, f"n{i}", label, deps=((i, "data"),) if i else ())
        for i, label in enumerate(HOSTILE)
    ]
    run = FakeRun('run "<b>" \\N', tasks, path=[1, 2])
    graph = viz.to_graphviz(run, max_label=80, wrap=80, timings=False)
    svg = parse_svg(graph.pipe(format="svg"))
    assert capfd.readouterr().err == ""  # no syntax warning from dot
    assert set(svg.nodes) == {str(i) for i in range(1, len(HOSTILE) + 1)}
    assert len(svg.edges) == len(HOSTILE) - 1
    for i, label in enumerate(HOSTILE, start=1):
        assert svg.call_text(str(i)) == [label]
        link = svg.nodes[str(i)].find(f"{SVG}g/{SVG}a")
        assert link is not None
        # Tooltips: the same text but for two lookalikes (see aiodag.viz.text.esc_string).
        shown = label.replace("\\", "\u29f5").replace("&", "\uff06")
        assert link.get(XLINK_TITLE) == f"#{i} {shown}\nok"
    assert svg.header().startswith('run "<b>" \\N ')


@pytest.mark.dot
def test_control_characters_newlines_and_long_labels() -> None:
    """Newlines break lines; control characters and lone surrogates show as escapes."""
    tasks = [
        FakeTask(1, "a", "line1\nline2\r\nline3"),
        FakeTask(2, "b", "nul\x00bell\x07del\x7f\ufffe\ttab"),
        FakeTask(3, "c", "surrogate\ud800!"),
        FakeTask(4, "d", "x" * 1000),
        FakeTask(5, "e", "call(" + ", ".join(f"arg{i}" for i in range(20)) + ")"),
    ]
    graph = viz.to_graphviz(FakeRun("c", tasks), timings=False, wrap=40)
    svg = parse_svg(graph.pipe(format="svg"))
    assert svg.label_text("1") == ["line1", "line2", "line3"]
    assert svg.label_text("2") == ["nul\\x00bell\\x07del\\x7f\\ufffe tab"]
    assert svg.label_text("3") == ["surrogate\\ud800!"]
    long = svg.label_text("4")
    assert "".join(long) == "x" * 59 + "…"
    assert max(map(len, long)) <= 40
    call = svg.label_text("5")
    assert call[0] == "call(arg0, arg1, arg2, arg3, arg4, arg5,"
    assert len("".join(call)) <= 60 and "".join(call).endswith("…")


@pytest.mark.dot
async def test_hostile_names_and_arguments_of_real_tasks(tmp_path: Path) -> None:
    """Task names and argument reprs from a real run cannot break the DOT either."""

    class Evil:
        def __repr__(self) -> str:
            return '"]; x -> y; <b>\\N'

    async def body(*args: object) -> None:
        return None

    evil_name = 'evil"] -> {<b>} \\G'
    async with Run("evil \\ run") as run:
        first = task(body, name=evil_name)("<i>\n'\\l'", Evil())
        task(body, name=evil_name)(first, {"}": "{"})
    for aggregate in (False, True):
        svg = parse_svg(
            viz.render(run, tmp_path / f"evil{aggregate}.svg", aggregate=aggregate).read_bytes()
        )
        assert len(svg.nodes) == (1 if aggregate else 2)
        assert len(svg.edges) == 1
    svg = parse_svg((tmp_path / "evilFalse.svg").read_bytes())
    for t in run.tasks:
        assert squash("".join(svg.call_text(str(t.id)))) == squash(shorten(t.label, 60))
    agg = parse_svg((tmp_path / "evilTrue.svg").read_bytes())
    assert squash("".join(agg.call_text("g0"))) == squash(evil_name)


def test_ids_that_are_not_plain_get_safe_node_names() -> None:
    """String ids with quotes or colons (DOT ports) are replaced, edges stay consistent."""
    run = FakeRun("ids", [
        FakeTask("a:b", "a", "a()"),
        FakeTask('x"y', "b", "b()", deps=(("a:b", "data"),)),
        FakeTask("span-1.2_3", "c", "c()", deps=(('x"y', "exogenous"),)),
        FakeTask(7, "d", "d()", deps=(("not in run", "data"),)),
    ])
    source = viz.to_graphviz(run).source
    assert set(dot_nodes(source)) == {"task0", "task1", "span-1.2_3", "7"}
    assert set(dot_edges(source)) == {("task0", "task1"), ("task1", "span-1.2_3")}


# -- runs that are not aiodag.Run ---------------------------------------------------------


@pytest.mark.dot
def test_run_like_with_error_type_names(tmp_path: Path) -> None:
    """A rebuilt run without exception objects shows error_type and error_message."""
    run = FakeRun("rebuilt", [
        FakeTask(1, "fetch", "fetch('a')"),
        FakeTask(2, "parse", "parse(fetch#1)", deps=((1, "data"),), status="failed",
                 error_type="TimeoutError", error_message="took too long"),
        FakeTask(3, "store", "store(parse#2)", deps=((2, "data"),), status="upstream_failed",
                 started=None),
    ], path=[1, 2])
    svg = parse_svg(viz.render(run, tmp_path / "rebuilt.svg").read_bytes())
    assert svg.label_text("2")[:2] == ["parse(fetch('a'))", "TimeoutError"]
    link = svg.nodes["2"].find(f"{SVG}g/{SVG}a")
    assert link is not None
    assert link.get(XLINK_TITLE) == "#2 parse(fetch('a'))\nfailed\nTimeoutError: took too long"
    assert svg.classes("3") == {"node", "upstream_failed"}
    assert svg.facts("3") == ["did not run", "ended at 1s"]
    assert svg.facts("2") == ["#2 · ran 1s", "ended at 1s"]


def test_unknown_status_is_refused() -> None:
    """A status that is not a TaskStatus value is named, with the valid ones."""
    run = FakeRun("bad", [FakeTask(1, "a", "a()", status="done")])
    with pytest.raises(ValueError, match=r"unknown status 'done' \(must be one of \['pending'"):
        viz.to_graphviz(run)


def test_empty_run() -> None:
    """A run with no task draws as its title alone."""
    source = viz.to_graphviz(Run("empty")).source
    assert dot_nodes(source) == {} and dot_edges(source) == {}
    assert "0 tasks" in source


# -- missing Graphviz ---------------------------------------------------------------------


def test_missing_dot_raises_a_clear_error(
    etl_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no `dot` on PATH, render says how to install it; DOT output still works."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("dot") is None
    with pytest.raises(viz.GraphvizNotFoundError) as caught:
        viz.render(etl_run, tmp_path / "etl.svg")
    message = str(caught.value)
    assert "`dot` executable was not found" in message
    assert "apt-get install graphviz" in message
    assert "brew install graphviz" in message
    assert "conda install -c conda-forge graphviz" in message
    assert isinstance(caught.value, RuntimeError)
    assert isinstance(caught.value.__cause__, graphviz.ExecutableNotFound)
    assert not (tmp_path / "etl.svg").exists()
    assert len(dot_nodes(viz.to_graphviz(etl_run).source)) == 14
    assert viz.render(etl_run, tmp_path / "etl.dot").stat().st_size > 0
    assert os.environ["PATH"] == str(empty)


# -- text helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0, "0µs"), (0.000123, "123µs"), (0.0009996, "1ms"), (0.1004, "100ms"),
    (0.9996, "1s"), (1.5, "1.5s"), (12.34, "12.3s"), (59.96, "1m00s"), (125, "2m05s"),
    (7322, "2h02m"), (-0.5, "-500ms"),
])
def test_format_seconds(seconds: float, text: str) -> None:
    """Durations read short, in the unit that fits."""
    assert format_seconds(seconds) == text


@pytest.mark.parametrize(("text", "lines"), [
    ("fetch('a1')", ["fetch('a1')"]),
    ("concatenate(fetch#1, fetch#2)", ["concatenate(", "fetch#1, fetch#2)"]),
    ("upload(strip_numbers#11, strip_numbers#12)",
     ["upload(", "strip_numbers#11,", "strip_numbers#12)"]),
    ("a" * 20, ["a" * 16, "a" * 4]),
    ("concatenate(fetch('a1'), fetch('a2'))", ["concatenate(", "fetch('a1'),", "fetch('a2'))"]),
    ("f(g(h(1, 2), 3), x)", ["f(g(h(1, 2), 3),", "x)"]),  # never inside g(…)
    ("one\ntwo", ["one", "two"]),
])
def test_wrap(text: str, lines: list[str]) -> None:
    """Labels break after '(' and ',' like the seed's figure, and at the width otherwise."""
    assert wrap(text, 16) == lines
