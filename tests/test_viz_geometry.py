"""The drawings checked as a reader would: in the SVG that `dot` lays out, each node's
numbers lie inside that node's box, and no two nodes overlap.

Run for the seed's ETL pipeline, a failing run, a 150-task fan-out, a run with spawned
tasks and a 100,000-task run, each also while still running where that applies.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from aiodag import Run, viz
from aiodag.demo import etl_pipeline
from aiodag.viz.model import RunLike

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs"))
import make_figures
from test_viz import FakeRun, FakeTask

pytestmark = pytest.mark.dot

SVG = "{http://www.w3.org/2000/svg}"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# Glyph widths of Helvetica (Adobe's standard font metrics, per 1000 em) for ASCII
# 32-126; Arial and Liberation Sans, which SVG viewers substitute, share them.  Other
# characters count as 0.65 em, bold text 10 % wider: on the generous side.
_HELVETICA = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
]


def _width(text: str, size: float, bold: bool) -> float:
    ems = sum(_HELVETICA[ord(c) - 32] / 1000 if 32 <= ord(c) < 127 else 0.65 for c in text)
    return ems * size * (1.1 if bold else 1.0)

_TIMING = re.compile(r"\b(ran|ended at|running|since|waiting|did not run|median|slack|mean)\b")


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float

    def contains(self, other: Box, tolerance: float = 0.5) -> bool:
        return (
            other.left >= self.left - tolerance
            and other.right <= self.right + tolerance
            and other.top >= self.top - tolerance
            and other.bottom <= self.bottom + tolerance
        )

    def overlaps(self, other: Box) -> bool:
        return (
            self.left < other.right and other.left < self.right
            and self.top < other.bottom and other.top < self.bottom
        )


def _shape_box(node: ET.Element) -> Box:
    """The box around a node's outline (its polygons and paths, not its text)."""
    xs: list[float] = []
    ys: list[float] = []
    for element in node.iter():
        if element.tag == f"{SVG}polygon":
            numbers = [float(n) for n in _NUMBER.findall(element.get("points", ""))]
        elif element.tag == f"{SVG}path":
            numbers = [float(n) for n in _NUMBER.findall(element.get("d", ""))]
        else:
            continue
        xs += numbers[0::2]
        ys += numbers[1::2]
    assert xs and ys, f"node {node.findtext(f'{SVG}title')!r} has no outline"
    return Box(min(xs), min(ys), max(xs), max(ys))


def _text_box(text: ET.Element) -> Box:
    size = float(text.get("font-size", "14"))
    x, y = float(text.get("x", "0")), float(text.get("y", "0"))
    width = _width(text.text or "", size, text.get("font-weight") == "bold")
    anchor = text.get("text-anchor", "start")
    left = x - width / 2 if anchor == "middle" else x - width if anchor == "end" else x
    return Box(left, y - 0.8 * size, left + width, y + 0.25 * size)


def check_geometry(run: RunLike, tmp_path: Path, **options: object) -> int:
    """Render ``run``; assert its numbers sit in their own nodes, nodes apart; count nodes."""
    path = viz.render(run, tmp_path / "drawing.svg", **options)  # type: ignore[arg-type]
    root = ET.fromstring(path.read_bytes())
    nodes = [g for g in root.iter(f"{SVG}g") if g.get("class", "").split()[:1] == ["node"]]
    assert nodes
    boxes = {}
    for node in nodes:
        name = node.findtext(f"{SVG}title")
        box = boxes[name] = _shape_box(node)
        texts = list(node.iter(f"{SVG}text"))
        assert texts, f"node {name} has no text"
        for text in texts:
            assert box.contains(_text_box(text)), (name, text.text, box, _text_box(text))
        if options.get("timings", True):
            timing = [t.text for t in texts if _TIMING.search(t.text or "")]
            assert timing, f"node {name} shows no timing: {[t.text for t in texts]}"
    # Every piece of text outside the nodes is the title, the legend or an edge's count.
    for (a, box_a), (b, box_b) in itertools.combinations(boxes.items(), 2):
        assert not box_a.overlaps(box_b), f"nodes {a} and {b} overlap: {box_a} {box_b}"
    loose = [
        t.text for g in root.iter(f"{SVG}g") if g.get("class") == "edge"
        for t in g.iter(f"{SVG}text")
    ]
    assert all((text or "").startswith("×") for text in loose), loose
    return len(nodes)


async def _etl() -> Run:
    async with Run("etl") as run:
        etl_pipeline(0.02)
    return run


def test_etl(tmp_path: Path) -> None:
    """The seed's run, with slack and in both directions."""
    run = asyncio.run(_etl())
    assert check_geometry(run, tmp_path) == 14
    assert check_geometry(run, tmp_path, slack=True, direction="TB") == 14


def test_failing_run(tmp_path: Path) -> None:
    """Failed, upstream_failed, cancelled tasks and an exogenous dependency."""
    assert check_geometry(asyncio.run(make_figures.failures_run()), tmp_path) == 6


def test_fan_out_stacked_and_full(tmp_path: Path) -> None:
    """75 fetches, 75 parses, one store: 3 nodes stacked, 151 with stack=0."""
    run = asyncio.run(make_figures.fanout_run(n=75, failing=(5, 6, 7)))
    assert len(run.tasks) == 151
    assert check_geometry(run, tmp_path) == 3
    assert check_geometry(run, tmp_path, stack=0) == 151


def test_spawned_tasks(tmp_path: Path) -> None:
    """Tasks called from task bodies, some stacked."""
    assert check_geometry(asyncio.run(make_figures.spawned_run()), tmp_path) == 6


def test_run_in_progress(tmp_path: Path) -> None:
    """Running and pending tasks show their state inside their nodes."""
    tasks = [
        FakeTask(1, "fetch", "fetch('a')"),
        FakeTask(2, "parse", "parse(fetch#1)", deps=((1, "data"),), status="running",
                 finished=None),
        FakeTask(3, "store", "store(parse#2)", deps=((2, "data"),), status="pending",
                 started=None, finished=None),
    ]
    assert check_geometry(FakeRun("live", tasks, makespan=1.5, running=True), tmp_path) == 3


def test_hundred_thousand_tasks(tmp_path: Path) -> None:
    """A 100,000-task run: drawn by task name, still each number in its own node."""
    tasks = [FakeTask(i, "load", f"load({i})") for i in range(1000)]
    tasks += [
        FakeTask(i, f"step{i % 3}", f"step{i % 3}({i})",
                 deps=((i - 1000, "data"), (i - 999 if i % 1000 else i - 1000, "data")),
                 started=1.0, finished=2.0)
        for i in range(1000, 100_000)
    ]
    run = FakeRun("large", tasks, makespan=2.0)
    assert check_geometry(run, tmp_path) == 4
