"""``timeline``: a run on a time axis — one bar per task, arrows for its dependencies.

::

    aiodag.viz.timeline(run, "timeline.svg")          # or .png, .pdf
    aiodag.viz.to_timeline(run)                       # shows inline in Jupyter

Each task is a bar from when its body began to when it ended, coloured by status, in
lanes packed so the picture stays compact, one band of lanes per task name.  An arrow
runs from the end of each upstream to the start of its dependent, so the idle gap
before a task is in the picture, with its reason.  The critical path is outlined and
its arrows drawn in red.  Above ``max_bars`` tasks, each name's band shows how many of
its tasks ran at each moment (by status) instead of one bar per task, with the critical
path's tasks and arrows still drawn one by one.

Drawn with matplotlib (``pip install aiodag[timeline]``): a timeline is a plot — a
numeric time axis with ticks, bars at exact coordinates, arrows between given points —
which is matplotlib's job, where Graphviz would lay out nodes itself and need every
position pinned by hand.  Figures are made without ``pyplot``, so nothing global is
touched and drawing from a worker thread is safe.

In the SVG, each bar is a group ``<g id="task-ID">`` and each arrow
``<g id="dep-UPSTREAM-DEPENDENT">``; text stays text (``svg.fonttype = none``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Unpack

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle

from ..events import TaskStatus
from ..lanes import pack_lanes_by_group
from .model import Snapshot, TaskLike, error_info
from .render import write_atomic
from .style import CRITICAL_COLOR, LINE_COLOR, STATUS_FILL, STATUS_ORDER
from .text import clean, format_seconds, one_line, shorten
from .timeline_options import Arrows, Layout, TimelineOptions

__all__ = ["FORMATS", "Timeline", "TimelineOptions", "timeline", "to_timeline"]

FORMATS = (".svg", ".png", ".pdf")
"""File suffixes :func:`timeline` writes."""

# Markers for tasks that never ran, and aggregated areas, need stronger colours than
# the pale bar fills (which carry black text).
_STRONG = {
    TaskStatus.OK: "#6ab04c",
    TaskStatus.FAILED: "#d63031",
    TaskStatus.UPSTREAM_FAILED: "#e69500",
    TaskStatus.CANCELLED: "#8c8c8c",
    TaskStatus.RUNNING: "#4a90d9",
    TaskStatus.PENDING: "#bbbbbb",
}
# An upstream ending so stops its dependents: drawn as a dotted arrow to their mark.
_STOPS = (TaskStatus.FAILED, TaskStatus.UPSTREAM_FAILED, TaskStatus.CANCELLED)
WAIT_COLOR = "#5b9bd5"  # blue and dotted: not to be read as a grey dependency arrow
WAIT_STYLE = (0, (1, 1.5))
LOOP_WAIT_COLOR = "#ef8a17"
LIMIT_WAIT_COLOR = "#8e6bbf"  # waiting for a slot of a concurrency limit (issue 13)
_ARROW_COLOR = "#5a5a5a"
_FONT_SIZE = 8.0
_BINS = 600  # time slices of an aggregated band: under 2 px each at the default width
_CHAR_WIDTH = 0.58  # of the font size: the mean advance of DejaVu Sans, for fitting text


class Timeline:
    """A drawn timeline: ``.figure`` (a matplotlib Figure), ``save(path)``, inline in Jupyter."""

    def __init__(self, figure: Figure, *, bars: int, arrows: int, aggregated: bool) -> None:
        self.figure = figure
        self.bars = bars
        """How many tasks are drawn as bars (or markers, for tasks that never ran)."""
        self.arrows = arrows
        """How many dependency arrows are drawn."""
        self.aggregated = aggregated
        """Whether bands show tasks running over time rather than one bar per task."""

    def __repr__(self) -> str:
        mode = "aggregated" if self.aggregated else f"bars={self.bars}"
        return f"<Timeline {mode} arrows={self.arrows}>"

    def to_bytes(self, fmt: str) -> bytes:
        """The figure as ``"svg"``, ``"png"`` or ``"pdf"`` bytes."""
        buffer = io.BytesIO()
        with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "aiodag"}):
            self.figure.savefig(buffer, format=fmt, dpi=110, metadata=_metadata(fmt))
        return buffer.getvalue()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the figure in the format named by the suffix, atomically; return the path."""
        path = Path(path)
        write_atomic(path, self.to_bytes(_format_of(path)))
        return path

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"image/svg+xml": self.to_bytes("svg").decode("utf-8")}


def _metadata(fmt: str) -> dict[str, Any]:
    # No creation date: the same run draws the same bytes.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    return {}


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"cannot tell the timeline format of {str(path)!r} from its suffix "
            f"{path.suffix!r} (must be one of {list(FORMATS)})"
        )
    return suffix[1:]


def timeline(run: Any, path: str | os.PathLike[str], **options: Unpack[TimelineOptions]) -> Path:
    """Draw ``run``'s timeline into ``path`` (``.svg``, ``.png`` or ``.pdf``); return it.

    >>> aiodag.viz.timeline(run, "timeline.svg", waits=True)
    PosixPath('timeline.svg')
    """
    path = Path(path)
    _format_of(path)  # a bad suffix fails before anything is drawn
    return to_timeline(run, **options).save(path)


@dataclass(slots=True)
class _Bar:
    task: TaskLike
    status: TaskStatus
    start: float
    end: float
    ran: bool


def to_timeline(run: Any, **options: Unpack[TimelineOptions]) -> Timeline:
    """The timeline of ``run`` (any :class:`~aiodag.viz.RunLike`, live or stored)."""
    layout = Layout.from_kwargs(dict(options))
    snap = Snapshot.of(run, critical_path=layout.critical_path, slack=False)
    bars = _bars(snap)
    aggregated = len(bars) > layout.max_bars if layout.aggregate is None else layout.aggregate
    n_deps = sum(len(t.deps) for t in snap.tasks)
    arrows = layout.arrows or ("all" if n_deps <= layout.max_arrows else "critical")
    if aggregated and arrows == "all":
        arrows = "critical"
    drawing = _Drawing(snap, layout, bars, aggregated=aggregated, arrows=arrows)
    return drawing.draw()


def _bars(snap: Snapshot) -> list[_Bar]:
    """A bar for each task that ran (a running one: until now); a mark for the others."""
    bars: list[_Bar] = []
    for task in snap.tasks:
        status = snap.statuses[task.id]
        if task.started is not None:
            end = task.finished if task.finished is not None else max(snap.makespan, task.started)
            bars.append(_Bar(task, status, task.started, max(end, task.started), True))
        elif task.finished is not None:  # never ran: settled at this moment
            bars.append(_Bar(task, status, task.finished, task.finished, False))
    return bars


class _Drawing:
    def __init__(self, snap: Snapshot, layout: Layout, bars: list[_Bar], *,
                 aggregated: bool, arrows: Arrows) -> None:
        self.snap = snap
        self.layout = layout
        self.bars = bars
        self.aggregated = aggregated
        self.arrows = arrows
        self.critical = set(snap.critical)
        self.n_arrows = 0
        self.n_skips = 0
        self.left_out = 0
        self.row: dict[Hashable, float] = {}  # the y (row centre) of each drawn task

    def draw(self) -> Timeline:
        snap, layout = self.snap, self.layout
        span = max(snap.makespan, max((b.end for b in self.bars), default=0.0), 1e-9)
        if self.aggregated:
            ticks, rows = self._aggregate_rows()
        else:
            ticks, rows = self._lane_rows()
        height = min(1.4 + 0.26 * rows + (0.5 if layout.legend else 0), 40.0)
        figure = Figure(figsize=(layout.width, height), layout="constrained")
        ax = figure.add_subplot()
        ax.set_xlim(-0.01 * span, span * 1.02)
        ax.set_ylim(rows - 0.4, -0.6)
        ax.set_yticks([y for y, _ in ticks], [label for _, label in ticks], fontsize=_FONT_SIZE,
                      parse_math=False)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel("seconds since the run began", fontsize=_FONT_SIZE + 1)
        ax.grid(axis="x", color="#e6e6e6", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        self.ax = ax
        self.px_per_s = self._points_per_second(span)
        if self.aggregated:
            self._draw_aggregate()
        else:
            self._draw_bars()
            self._draw_blocks()
        self._draw_arrows()
        if layout.title:
            ax.set_title(self._title(), loc="left", fontsize=12, fontweight="bold",
                         parse_math=False)
        if layout.legend:
            self._legend(figure)
        return Timeline(figure, bars=0 if self.aggregated else len(self.bars),
                        arrows=self.n_arrows, aggregated=self.aggregated)

    # -- rows --------------------------------------------------------------------------

    def _lane_rows(self) -> tuple[list[tuple[float, str]], int]:
        groups = [b.task.name if self.layout.group == "name" else "" for b in self.bars]
        # With waits shown, a task's lane is kept free from its call on, for the wait line.
        lanes = pack_lanes_by_group([(self._begin(b), b.end) for b in self.bars], groups)
        self.bar_rows = lanes.row
        for bar, row in zip(self.bars, lanes.row, strict=True):
            self.row[bar.task.id] = row
        self.groups = lanes.groups
        ticks = [
            (first + (count - 1) / 2, shorten(one_line(clean(str(group))), 24))
            for group, first, count in lanes.groups
            if self.layout.group == "name"
        ]
        return ticks, max(lanes.rows, 1)

    def _begin(self, bar: _Bar) -> float:
        created = getattr(bar.task, "created", None) if self.layout.waits else None
        if isinstance(created, int | float) and bar.ran and created < bar.start:
            return float(created)
        return bar.start

    def _aggregate_rows(self) -> tuple[list[tuple[float, str]], int]:
        self.band: dict[str, list[_Bar]] = {}
        for bar in self.bars:
            key = bar.task.name if self.layout.group == "name" else "all tasks"
            self.band.setdefault(key, []).append(bar)
        ticks: list[tuple[float, str]] = []
        span_end = max(self.snap.makespan, max((b.end for b in self.bars), default=0.0))
        self.peaks: list[int] = []
        for index, (name, members) in enumerate(self.band.items()):
            y = index * 2 + 0.5
            ran = [b for b in members if b.ran]
            grid = np.unique(np.array([0.0, span_end] + [t for b in ran for t in (b.start, b.end)]))
            self.peaks.append(int(_running(grid, ran).max()))
            ticks.append((y, f"{shorten(one_line(clean(name)), 24)}\n{len(members):,} tasks\n"
                             f"≤ {self.peaks[-1]:,} at once"))
            for bar in members:
                self.row[bar.task.id] = y
        return ticks, max(len(self.band) * 2, 1)

    # -- drawing -----------------------------------------------------------------------

    def _points_per_second(self, span: float) -> float:
        # The axes take about 85 % of the width once labels are placed.
        return self.layout.width * 72 * 0.85 / (span * 1.03)

    def _draw_bars(self) -> None:
        ax, layout = self.ax, self.layout
        for _group, first, _count in self.groups[1:]:
            ax.axhline(first - 0.5, color="#d0d0d0", linewidth=0.6, zorder=0.5)
        for bar, row in zip(self.bars, self.bar_rows, strict=True):
            task_id = bar.task.id
            critical = task_id in self.critical
            if layout.waits:
                self._draw_wait(bar, row)
            if not bar.ran:
                ax.plot([bar.start], [row], marker="X", markersize=7, linestyle="none",
                        color=_STRONG[bar.status], markeredgecolor="white",
                        gid=f"task-{task_id}", zorder=3)
                continue
            rect = Rectangle(
                (bar.start, row - 0.36), bar.end - bar.start, 0.72,
                facecolor=STATUS_FILL[bar.status],
                edgecolor=CRITICAL_COLOR if critical else LINE_COLOR,
                linewidth=2.0 if critical else 0.7,
                linestyle="--" if bar.status is TaskStatus.RUNNING else "-",
                gid=f"task-{task_id}", zorder=2,
            )
            ax.add_artist(rect)
            if layout.labels:
                self._label(bar, row)

    def _draw_blocks(self) -> None:
        # A step that held the event loop: hatched over its task's bar.
        rows = {bar.task.id: row for bar, row in zip(self.bars, self.bar_rows, strict=True)}
        for task_id, start, end in self.snap.blocks:
            row = rows.get(task_id)
            if row is None:
                continue
            self.ax.add_artist(Rectangle(
                (start, row - 0.36), end - start, 0.72, facecolor="none",
                edgecolor=LOOP_WAIT_COLOR, hatch="////", linewidth=0.0,
                gid=f"blocked-{task_id}", zorder=2.5,
            ))

    def _draw_wait(self, bar: _Bar, row: float) -> None:
        created = getattr(bar.task, "created", None)
        if not isinstance(created, int | float) or created >= bar.start:
            return
        ready = getattr(bar.task, "ready", None)
        if isinstance(ready, int | float) and created <= ready <= bar.start:
            self.ax.plot([created, ready], [row, row], color=WAIT_COLOR, linewidth=1.5,
                         linestyle=WAIT_STYLE,
                         gid=f"wait-deps-{bar.task.id}", zorder=1.5)
            # A wait for a slot of a limit comes last, right before the start.
            limit_wait = getattr(bar.task, "limit_wait", None)
            slot = bar.start
            if isinstance(limit_wait, int | float) and limit_wait > 0:
                slot = max(ready, bar.start - limit_wait)
                self.ax.plot([slot, bar.start], [row, row], color=LIMIT_WAIT_COLOR,
                             linewidth=2.5, gid=f"wait-limit-{bar.task.id}", zorder=1.6)
            self.ax.plot([ready, slot], [row, row], color=LOOP_WAIT_COLOR, linewidth=2.5,
                         gid=f"wait-loop-{bar.task.id}", zorder=1.6)
        else:
            self.ax.plot([created, bar.start], [row, row], color=WAIT_COLOR, linewidth=1.5,
                         linestyle=WAIT_STYLE,
                         gid=f"wait-{bar.task.id}", zorder=1.5)

    def _label(self, bar: _Bar, row: float) -> None:
        text = one_line(clean(bar.task.label))
        name = bar.task.name
        if self.layout.group == "name" and text.startswith(name + "(") and text != name + "()":
            text = text[len(name):]  # the band says the name; show the arguments
        if bar.status is TaskStatus.FAILED:
            info = error_info(bar.task)
            if info is not None:
                text = f"{text} {info.type}"
        fits = int((bar.end - bar.start) * self.px_per_s / (_FONT_SIZE * _CHAR_WIDTH)) - 1
        if fits < 3:
            return
        self.ax.text(bar.start + (bar.end - bar.start) / 2, row, shorten(text, fits),
                     ha="center", va="center", fontsize=_FONT_SIZE, clip_on=True,
                     parse_math=False, zorder=4)

    def _draw_aggregate(self) -> None:
        # Each band: how many of its tasks ran, on average, in each of _BINS time slices,
        # stacked by status and scaled to the band's busiest slice.  Averages keep the
        # drawing (and the SVG) the same size for 100 tasks or 100,000.
        ax = self.ax
        span_end = max(self.snap.makespan, max((b.end for b in self.bars), default=0.0), 1e-9)
        edges = np.linspace(0.0, span_end, _BINS + 1)
        for index, members in enumerate(self.band.values()):
            base = index * 2 + 1.3  # the band's bottom (y grows downwards)
            ran = [b for b in members if b.ran]
            stacks = [(status, _mean_running(edges, [b for b in ran if b.status is status]))
                      for status in STATUS_ORDER]
            busiest = float(sum(means for _status, means in stacks).max())
            scale = 1.6 / busiest if busiest > 0 else 0.0
            lower = np.zeros(_BINS)
            for status, means in stacks:
                if not means.any():
                    continue
                upper = lower + means * scale
                x, low, high = _steps(edges, base - lower, base - upper)
                ax.fill_between(x, low, high, step="post", color=_STRONG[status], alpha=0.85,
                                linewidth=0, gid=f"band-{index}-{status}")
                lower = upper
        for bar in self.bars:  # the critical path, bar by bar, over the bands
            if bar.task.id in self.critical and bar.ran:
                y = self.row[bar.task.id]
                ax.add_artist(Rectangle((bar.start, y - 0.3), bar.end - bar.start, 0.6,
                                       facecolor="none", edgecolor=CRITICAL_COLOR,
                                       linewidth=1.6, gid=f"task-{bar.task.id}", zorder=3))

    def _draw_arrows(self) -> None:
        if self.arrows == "none":
            return
        bars = {b.task.id: b for b in self.bars}
        critical_edges = self.snap.critical_edges()
        for task in self.snap.tasks:
            for upstream, kind in task.deps:
                up, down = bars.get(upstream), bars.get(task.id)
                if up is None or down is None:
                    continue
                if not down.ran:
                    if self.arrows == "all" and up.status in _STOPS:
                        self._skip_arrow(up, down)
                    continue
                if not up.ran:
                    continue
                on_path = (upstream, task.id) in critical_edges
                if self.arrows == "critical" and not on_path:
                    self.left_out += 1
                    continue
                self._arrow(up, down, str(kind), critical=on_path and self.layout.critical_path)

    def _arrow(self, up: _Bar, down: _Bar, kind: str, *, critical: bool) -> None:
        patch = FancyArrowPatch(
            (up.end, self.row[up.task.id]), (down.start, self.row[down.task.id]),
            arrowstyle="-|>", mutation_scale=9 if critical else 7,
            shrinkA=0, shrinkB=0,
            color=CRITICAL_COLOR if critical else _ARROW_COLOR,
            linewidth=1.6 if critical else 0.8,
            linestyle=(0, (3, 2)) if kind != "data" else "-",
            alpha=1.0 if critical else 0.75,
            gid=f"dep-{up.task.id}-{down.task.id}", zorder=5 if critical else 4,
        )
        self.ax.add_artist(patch)  # add_patch would also recompute data limits: slow, unneeded
        self.n_arrows += 1

    def _skip_arrow(self, up: _Bar, down: _Bar) -> None:
        """A dotted arrow from an upstream that failed (or never ran) to a task it stopped."""
        patch = FancyArrowPatch(
            (up.end, self.row[up.task.id]), (down.start, self.row[down.task.id]),
            arrowstyle="-|>", mutation_scale=7, shrinkA=0, shrinkB=4,
            color=_STRONG[down.status], linewidth=1.0, linestyle=(0, (1, 1.5)),
            gid=f"skip-{up.task.id}-{down.task.id}", zorder=4,
        )
        self.ax.add_artist(patch)
        self.n_skips += 1

    # -- text --------------------------------------------------------------------------

    def _title(self) -> str:
        snap = self.snap
        n = len(snap.tasks)
        when = f"{format_seconds(snap.makespan)} so far" if snap.running else format_seconds(
            snap.makespan)
        title = f"{shorten(one_line(clean(snap.name)), 60)} — {n:,} task{'s' if n != 1 else ''}, "
        title += f"{'running, ' if snap.running else ''}makespan {when}"
        if self.aggregated:
            title += " — tasks running over time, per name"
        if self.left_out:
            title += f"\narrows: critical path only ({self.left_out:,} more dependencies not drawn)"
        return title

    def _legend(self, figure: Figure) -> None:
        counts = self.snap.counts
        handles: list[Any] = [
            Patch(facecolor=_STRONG[s] if self.aggregated else STATUS_FILL[s],
                  edgecolor=LINE_COLOR, linewidth=0.7, label=f"{s} {counts[s]:,}")
            for s in STATUS_ORDER if counts.get(s)
        ]
        if self.critical and self.layout.critical_path:
            handles.append(Line2D([], [], color=CRITICAL_COLOR, linewidth=2, label="critical path"))
        if self.snap.blocks and not self.aggregated:
            handles.append(Patch(facecolor="none", edgecolor=LOOP_WAIT_COLOR, hatch="////",
                                 linewidth=0.0, label="blocked the loop"))
        if self.n_arrows:
            handles.append(Line2D([], [], color=_ARROW_COLOR, linewidth=0.8,
                                  label="dependency (end → start)"))
        if self.layout.waits and not self.aggregated:
            split = any(getattr(b.task, "ready", None) is not None for b in self.bars)
            label = "waiting for upstreams" if split else "waiting (call → start)"
            handles.append(Line2D([], [], color=WAIT_COLOR, linewidth=1.5, linestyle=WAIT_STYLE,
                                  label=label))
            if split:
                handles.append(Line2D([], [], color=LOOP_WAIT_COLOR, linewidth=2.5,
                                      label="waiting for the loop"))
            if any(getattr(b.task, "limit_wait", None) for b in self.bars):
                handles.append(Line2D([], [], color=LIMIT_WAIT_COLOR, linewidth=2.5,
                                      label="waiting for a slot (limit)"))
        if any(not b.ran for b in self.bars) and not self.aggregated:
            handles.append(Line2D([], [], marker="X", linestyle="none", color="#777777",
                                  label="did not run"))
        if self.n_skips:
            handles.append(Line2D([], [], color=_STRONG[TaskStatus.UPSTREAM_FAILED],
                                  linestyle=(0, (1, 1.5)), label="stopped by its upstream"))
        figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6),
                      fontsize=_FONT_SIZE, frameon=False)


def _steps(edges: Any, low: Any, high: Any) -> tuple[Any, Any, Any]:
    """A step outline over ``edges`` with only the slices where ``low`` or ``high`` change.

    Idle stretches and steady ones then cost two points, not two per slice, in the SVG.
    """
    changes = np.ones(len(low), dtype=bool)
    changes[1:] = (low[1:] != low[:-1]) | (high[1:] != high[:-1])
    x = np.append(edges[:-1][changes], edges[-1])
    return x, np.append(low[changes], low[-1]), np.append(high[changes], high[-1])


def _mean_running(edges: Any, bars: Sequence[_Bar]) -> Any:
    """How many of ``bars`` ran on average between consecutive ``edges``.

    The time integral of the number running is piecewise linear between events, so
    interpolating it at the edges is exact.
    """
    if not bars:
        return np.zeros(len(edges) - 1)
    times = np.concatenate([np.fromiter((b.start for b in bars), float, len(bars)),
                            np.fromiter((b.end for b in bars), float, len(bars))])
    deltas = np.concatenate([np.ones(len(bars)), -np.ones(len(bars))])
    order = np.argsort(times, kind="stable")
    times, running = times[order], np.cumsum(deltas[order])
    area = np.concatenate([[0.0], np.cumsum(running[:-1] * np.diff(times))])
    integral = np.interp(edges, times, area, left=0.0, right=float(area[-1]))
    return np.diff(integral) / np.diff(edges)


def _running(grid: Any, bars: Sequence[_Bar]) -> Any:
    """How many of ``bars`` run at each time of ``grid`` (from that time on)."""
    starts = np.sort(np.fromiter((b.start for b in bars), float, len(bars)))
    ends = np.sort(np.fromiter((b.end for b in bars), float, len(bars)))
    return (np.searchsorted(starts, grid, side="right")
            - np.searchsorted(ends, grid, side="right")).astype(float)
