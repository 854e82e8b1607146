"""aiodag.viz.timeline: bars, lanes and dependency arrows, checked on the SVG's geometry.

Each bar is ``<g id="task-ID">`` and each arrow ``<g id="dep-UP-DOWN">`` in the SVG
that matplotlib writes; the tests read their path coordinates and check that an arrow
leaves its upstream's bar at its right edge and lands on its dependent's left edge.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import aiodag.viz
from aiodag import Run, task
from aiodag.analysis import critical_path
from aiodag.demo import etl_pipeline
from aiodag.viz.style import CRITICAL_COLOR

SVG = "{http://www.w3.org/2000/svg}"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


@dataclass
class Box:
    x0: float
    x1: float
    y0: float
    y1: float

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


class Drawing:
    """The groups of a timeline SVG, by id."""

    def __init__(self, path: Path) -> None:
        self.root = ET.parse(path).getroot()
        self.groups = {g.get("id"): g for g in self.root.iter(f"{SVG}g") if g.get("id")}

    def ids(self, prefix: str) -> list[str]:
        return [i for i in self.groups if i.startswith(prefix)]

    def points(self, gid: str) -> list[tuple[float, float]]:
        found: list[tuple[float, float]] = []
        for path in self.groups[gid].iter(f"{SVG}path"):
            numbers = [float(n) for n in _NUMBER.findall(path.get("d", ""))]
            found.extend(zip(numbers[::2], numbers[1::2], strict=True))
        return found

    def box(self, gid: str) -> Box:
        pts = self.points(gid)
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        return Box(min(xs), max(xs), min(ys), max(ys))

    def style(self, gid: str) -> str:
        return " ".join(p.get("style", "") for p in self.groups[gid].iter(f"{SVG}path"))

    def texts(self) -> list[str]:
        return ["".join(t.itertext()) for t in self.root.iter(f"{SVG}text")]


def near(points: Sequence[tuple[float, float]], x: float, y: float, tol: float = 0.6) -> bool:
    return any(abs(px - x) <= tol and abs(py - y) <= tol for px, py in points)


async def etl_run() -> Run:
    async with Run("etl") as run:
        etl_pipeline(0.02)
    return run


def check_arrows(drawing: Drawing, run: object, expected: set[tuple[Hashable, Hashable]]) -> None:
    """Each arrow runs from its upstream's right edge to its dependent's left edge."""
    arrows = set()
    for gid in drawing.ids("dep-"):
        _, up, down = gid.split("-")
        arrows.add((int(up), int(down)))
        upstream, dependent = drawing.box(f"task-{up}"), drawing.box(f"task-{down}")
        points = drawing.points(gid)
        assert near(points, upstream.x1, upstream.cy), (gid, points[:2], upstream)
        # matplotlib pulls the head's tip back along the arrow by about its line width
        # (up to 1.6 pt, on the critical path), so that the stroked tip ends on the point.
        assert near(points, dependent.x0, dependent.cy, tol=2.5), (gid, points, dependent)
    assert arrows == expected


async def test_the_etl_run_has_a_bar_per_task_and_an_arrow_per_dependency(tmp_path: Path) -> None:
    """14 bars, 14 arrows, each arrow from the upstream's end to the dependent's start."""
    run = await etl_run()
    path = aiodag.viz.timeline(run, tmp_path / "timeline.svg")
    drawing = Drawing(path)
    assert sorted(drawing.ids("task-")) == sorted(f"task-{t.id}" for t in run.tasks)
    check_arrows(drawing, run, {(up, t.id) for t in run.tasks for up, _ in t.deps})


async def test_bar_lengths_follow_the_recorded_times(tmp_path: Path) -> None:
    """Bar widths are proportional to durations; bars start in the order the tasks did."""
    run = await etl_run()
    drawing = Drawing(aiodag.viz.timeline(run, tmp_path / "t.svg"))
    boxes = {t.id: drawing.box(f"task-{t.id}") for t in run.tasks}
    scale = [(boxes[t.id].x1 - boxes[t.id].x0) / t.duration for t in run.tasks
             if t.duration and t.duration > 0.01]
    assert max(scale) / min(scale) == pytest.approx(1.0, abs=0.01)
    by_start = sorted(run.tasks, key=lambda t: t.started)
    xs = [boxes[t.id].x0 for t in by_start]
    assert xs == sorted(xs)


async def test_lanes_are_packed_per_name_and_never_overlap(tmp_path: Path) -> None:
    """Six fetches run at once: six lanes; bars in one lane never overlap."""
    run = await etl_run()
    drawing = Drawing(aiodag.viz.timeline(run, tmp_path / "t.svg"))
    boxes = {t.id: drawing.box(f"task-{t.id}") for t in run.tasks}
    fetch_rows = {round(boxes[t.id].cy) for t in run.tasks if t.name == "fetch"}
    assert len(fetch_rows) == 6
    rows: dict[int, list[Box]] = {}
    for box in boxes.values():
        rows.setdefault(round(box.cy), []).append(box)
    for lane in rows.values():
        lane.sort(key=lambda b: b.x0)
        assert all(b.x0 >= a.x1 - 0.01 for a, b in itertools.pairwise(lane))
    assert len(rows) < len(run.tasks)  # packed: tasks share lanes
    labels = drawing.texts()
    assert {"fetch", "concatenate", "strip_numbers", "upload"} <= set(labels)


async def test_the_critical_path_is_outlined_and_its_arrows_red(tmp_path: Path) -> None:
    """Critical bars and arrows are drawn in the critical colour; others are not."""
    run = await etl_run()
    drawing = Drawing(aiodag.viz.timeline(run, tmp_path / "t.svg"))
    path = [t.id for t in run.critical_path()]
    for t in run.tasks:
        assert (f"stroke: {CRITICAL_COLOR}" in drawing.style(f"task-{t.id}")) == (t.id in path)
    red = {gid for gid in drawing.ids("dep-") if CRITICAL_COLOR in drawing.style(gid)}
    assert red == {f"dep-{a}-{b}" for a, b in itertools.pairwise(path)}


async def test_a_failed_run_shows_errors_and_tasks_that_never_ran(tmp_path: Path) -> None:
    """The failed bar names its error; the task that never ran is a mark, with no arrow."""

    @task
    async def boom() -> None:
        await asyncio.sleep(0.01)
        raise ValueError("disk full")

    @task
    async def after(x: object) -> None: ...

    async with Run("failing", raise_errors=False) as run:
        after(boom())
    drawing = Drawing(aiodag.viz.timeline(run, tmp_path / "t.svg"))
    skipped = next(t for t in run.tasks if t.status == "upstream_failed")
    failed = next(t for t in run.tasks if t.status == "failed")
    assert f"task-{skipped.id}" in drawing.groups
    assert drawing.ids("dep-") == []
    # A dotted arrow says why it never ran: from the failed task's end to its mark.
    assert drawing.ids("skip-") == [f"skip-{failed.id}-{skipped.id}"]
    failed_bar = drawing.box(f"task-{failed.id}")
    assert near(drawing.points(f"skip-{failed.id}-{skipped.id}"), failed_bar.x1, failed_bar.cy)
    assert any("ValueError" in text for text in drawing.texts())
    assert any(text.startswith("upstream_failed 1") for text in drawing.texts())


async def test_a_run_in_progress_draws_running_bars_until_now(tmp_path: Path) -> None:
    """Mid-run: the running task's bar is dashed and reaches the makespan so far."""
    release = asyncio.Event()

    @task
    async def slow() -> None:
        await release.wait()

    async with Run("live") as run:
        handle = slow()
        await asyncio.sleep(0.05)
        path = aiodag.viz.timeline(run, tmp_path / "t.svg")
        release.set()
    drawing = Drawing(path)
    assert "stroke-dasharray" in drawing.style(f"task-{handle.id}")
    assert any("so far" in text for text in drawing.texts())


def test_a_stored_run_draws_like_the_live_one(tmp_path: Path) -> None:
    """Read back from an OTLP JSON file: the same bars and arrows."""
    from aiodag.trace import OpenTelemetrySink, configure
    from aiodag.trace.stored import load_run

    provider = configure("timeline-test", file=tmp_path / "trace.jsonl", install=False)

    async def main() -> Run:
        async with Run("etl", sinks=[OpenTelemetrySink(provider)]) as run:
            etl_pipeline(0.02)
        return run

    live = asyncio.run(main())
    provider.shutdown()
    stored = load_run(tmp_path / "trace.jsonl")
    drawing = Drawing(aiodag.viz.timeline(stored, tmp_path / "stored.svg"))
    assert sorted(drawing.ids("task-")) == sorted(f"task-{t.id}" for t in live.tasks)
    check_arrows(drawing, stored, {(up, t.id) for t in live.tasks for up, _ in t.deps})


# -- runs made up to the size needed -----------------------------------------------------


@dataclass
class FakeTask:
    id: int
    name: str
    deps: tuple[tuple[int, str], ...]
    started: float | None
    finished: float | None
    status: str = "ok"
    created: float | None = None
    ready: float | None = None
    error: BaseException | None = None
    limit_wait: float | None = None

    @property
    def label(self) -> str:
        return f"{self.name}({self.id})"

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


@dataclass
class FakeRun:
    name: str
    tasks: list[FakeTask]
    running: bool = False
    by_id: dict[int, FakeTask] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {t.id: t for t in self.tasks}

    @property
    def makespan(self) -> float:
        return max(t.finished or 0.0 for t in self.tasks)

    def critical_path(self) -> list[FakeTask]:
        return critical_path(self.by_id)


def layered(n_tasks: int, width: int, names: int = 3) -> FakeRun:
    """A layered DAG, each task depending on two of the layer before, 1 ms each."""
    tasks = []
    for i in range(n_tasks):
        layer, pos = divmod(i, width)
        deps = () if layer == 0 else (
            ((layer - 1) * width + pos, "data"), ((layer - 1) * width + (pos + 1) % width, "data"))
        start = layer * 0.0011 + pos * 1e-6
        tasks.append(FakeTask(i, f"step{layer % names}", deps, start, start + 0.001))
    return FakeRun("layered", tasks)


def test_ten_thousand_tasks_are_drawn_as_bands_with_the_critical_path(tmp_path: Path) -> None:
    """10,000 tasks: one band per name, the critical path bar by bar, a small file."""
    run = layered(10_000, 100)
    path = aiodag.viz.timeline(run, tmp_path / "big.svg")
    drawing = Drawing(path)
    assert len(drawing.ids("band-")) == 3  # three names, all ok
    critical = [t.id for t in run.critical_path()]
    assert sorted(drawing.ids("task-")) == sorted(f"task-{i}" for i in critical)
    assert len(drawing.ids("dep-")) == len(critical) - 1
    texts = " ".join(drawing.texts())
    assert "dependencies not drawn" in texts and "10,000 tasks" in texts
    assert path.stat().st_size < 1_000_000


def test_a_hundred_thousand_tasks_do_not_fail(tmp_path: Path) -> None:
    """100,000 tasks draw (aggregated) to SVG and PNG."""
    run = layered(100_000, 1000)
    timeline = aiodag.viz.to_timeline(run)
    assert timeline.aggregated
    assert timeline.save(tmp_path / "huge.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_waits_are_split_at_ready_when_the_record_has_it(tmp_path: Path) -> None:
    """waits=True: call → ready (upstreams) in grey, ready → start (the loop) in orange."""
    tasks = [
        FakeTask(1, "a", (), 0.0, 1.0, created=0.0),
        FakeTask(2, "b", ((1, "data"),), 1.5, 2.0, created=0.2, ready=1.0),
        FakeTask(3, "c", ((1, "data"),), 1.2, 2.5, created=0.3),
    ]
    drawing = Drawing(aiodag.viz.timeline(FakeRun("w", tasks), tmp_path / "w.svg", waits=True))
    bar_b = drawing.box("task-2")
    deps_wait, loop_wait = drawing.box("wait-deps-2"), drawing.box("wait-loop-2")
    arrow = drawing.points("dep-1-2")
    assert deps_wait.x1 == pytest.approx(loop_wait.x0, abs=0.01)
    assert loop_wait.x1 == pytest.approx(bar_b.x0, abs=0.01)
    assert near(arrow, deps_wait.x1, bar_b.cy, tol=40)  # ready = when the upstream ended
    assert drawing.box("wait-3").x1 == pytest.approx(drawing.box("task-3").x0, abs=0.01)
    assert "waiting for the loop" in drawing.texts()


def test_a_wait_for_a_slot_is_drawn_apart_from_the_loops(tmp_path: Path) -> None:
    """ready → start splits into the loop's part, then the slot of a limit's (issue 13)."""
    tasks = [
        FakeTask(1, "a", (), 0.0, 1.0, created=0.0),
        FakeTask(2, "b", ((1, "data"),), 2.0, 2.5, created=0.2, ready=1.0, limit_wait=0.8),
    ]
    drawing = Drawing(aiodag.viz.timeline(FakeRun("w", tasks), tmp_path / "w.svg", waits=True))
    bar_b = drawing.box("task-2")
    deps_wait, loop_wait = drawing.box("wait-deps-2"), drawing.box("wait-loop-2")
    limit_wait = drawing.box("wait-limit-2")
    assert deps_wait.x1 == pytest.approx(loop_wait.x0, abs=0.01)
    assert loop_wait.x1 == pytest.approx(limit_wait.x0, abs=0.01)
    assert limit_wait.x1 == pytest.approx(bar_b.x0, abs=0.01)
    # 0.2 s of loop wait, 0.8 s of slot wait: widths in that ratio.
    assert (limit_wait.x1 - limit_wait.x0) == pytest.approx(4 * (loop_wait.x1 - loop_wait.x0),
                                                            rel=0.02)
    assert "waiting for a slot (limit)" in drawing.texts()
    assert drawing.ids("wait-limit-") == ["wait-limit-2"]


async def test_text_from_the_run_is_shown_literally(tmp_path: Path) -> None:
    """Labels with $math$, <tags> and & appear as written (no mathtext, valid XML)."""
    tasks = [FakeTask(1, "a", (), 0.0, 1.0)]
    run = FakeRun("$x$ <b>&", tasks)
    drawing = Drawing(aiodag.viz.timeline(run, tmp_path / "t.svg"))
    assert any(text.startswith("$x$ <b>&") for text in drawing.texts())


def test_options_are_checked_before_drawing(tmp_path: Path) -> None:
    """Unknown options and suffixes get errors naming the choices; nothing is written."""
    run = layered(4, 2)
    with pytest.raises(TypeError, match=r"unknown timeline option: 'colour' \(must be among"):
        aiodag.viz.timeline(run, tmp_path / "t.svg", colour="red")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match=r"must be one of \['.svg', '.png', '.pdf'\]"):
        aiodag.viz.timeline(run, tmp_path / "t.gif")
    with pytest.raises(ValueError, match="unknown arrows: 'some'"):
        aiodag.viz.to_timeline(run, arrows="some")  # type: ignore[typeddict-item]
    assert list(tmp_path.iterdir()) == []


def test_arrows_can_be_limited_to_the_critical_path_or_left_out(tmp_path: Path) -> None:
    """arrows='critical' draws the path's; 'none' draws none; the title counts the rest."""
    run = layered(40, 4)
    path_len = len(run.critical_path())
    assert aiodag.viz.to_timeline(run, arrows="critical").arrows == path_len - 1
    assert aiodag.viz.to_timeline(run, arrows="none").arrows == 0
    assert aiodag.viz.to_timeline(run).arrows == 72


def test_jupyter_shows_the_timeline_as_svg() -> None:
    """The Timeline object displays inline through its SVG mime bundle."""
    bundle = aiodag.viz.to_timeline(layered(4, 2))._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")
