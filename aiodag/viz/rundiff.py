"""``diff``: what changed between two runs of a pipeline, drawn on the second run's DAG.

::

    change = aiodag.viz.compare(run_a, run_b)          # the analysis
    aiodag.viz.diff(run_a, run_b)                      # a graphviz.Digraph of it
    aiodag.viz.render_diff(run_a, run_b, "diff.svg")

**Matching.**  Task ids differ from run to run, and so do the ``name#id`` references
in labels (``concatenate(fetch#5, fetch#6)``).  A task is therefore matched by its
label with each such reference replaced by the matched identity of that upstream —
``concatenate(fetch('a1'), fetch('a2'))`` in effect, however deep — and among tasks
with equal labels by the order they were called.  Tasks left over fall back to their
name and position: the k-th unmatched call of ``fetch`` in one run to the k-th in the
other.

**What is shown.**  The second run's DAG; each task coloured by how its duration
changed (slower or faster than ``threshold``, e.g. 20 %, and by at least
``min_seconds``), new tasks, status changes (``ok → failed``), and the first run's
tasks that are gone, dashed.  The critical path of the second run is thick red; where
the first run's path went elsewhere, its tasks keep a dashed red outline, and the
title says whether the path moved.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import graphviz

from ..events import TaskStatus
from .model import RunLike, Snapshot, TaskLike, _topological, status_of
from .options import DIRECTIONS, Direction
from .render import format_of, pipe, write_atomic
from .style import CRITICAL_COLOR, FONT, LINE_COLOR, TEXT_GREY, edge_defaults, graph_attrs
from .text import esc_string, format_seconds, html_lines, one_line, shorten, wrap

__all__ = ["Change", "RunDiff", "TaskChange", "compare", "diff", "render_diff"]

Change = Literal["slower", "faster", "same", "added", "status", "not_run"]

_REF = re.compile(r"#(\d+)")

FILL: dict[str, str] = {
    "much_slower": "#f08c82",
    "slower": "#f9c9c3",
    "same": "#ffffff",
    "faster": "#cfe3f7",
    "much_faster": "#8fbde9",
    "added": "#fff1a8",
    "status": "#ffffff",
    "not_run": "#eeeeee",
    "removed": "#f4f4f4",
}
STATUS_CHANGE_COLOR = "#e67e00"


@dataclass(frozen=True, slots=True)
class TaskChange:
    """One task of the second run and what changed since its match in the first."""

    task: TaskLike
    before: TaskLike | None
    change: Change
    ratio: float | None
    """Duration in the second run over duration in the first (``None``: not both ran)."""

    @property
    def status_changed(self) -> bool:
        """Whether the matched task ended differently."""
        return self.before is not None and status_of(self.before) != status_of(self.task)


@dataclass(frozen=True, slots=True)
class RunDiff:
    """Two runs compared: each task of the second, and the first's tasks that are gone."""

    before: Snapshot
    after: Snapshot
    tasks: list[TaskChange]
    removed: list[TaskLike]
    threshold: float
    critical_before: list[str]
    """Labels of the first run's critical path, first to last."""
    critical_after: list[str]
    """Labels of the second run's critical path."""
    path_moved: bool
    """Whether the critical path goes through other (matched) tasks than it did."""

    def counts(self) -> dict[str, int]:
        """How many tasks are slower, faster, the same, added, removed, changed status."""
        counts = dict.fromkeys(("slower", "faster", "same", "added", "not_run"), 0)
        for item in self.tasks:
            if item.change != "status":
                counts[item.change] += 1
        counts["removed"] = len(self.removed)
        counts["status"] = sum(1 for item in self.tasks if item.status_changed)
        return counts


def _identities(tasks: Sequence[TaskLike]) -> dict[Hashable, str]:
    """A run-independent identity per task: its label with upstream refs resolved."""
    ids: dict[Hashable, str] = {}
    for task in _topological(tasks):
        def resolve(match: re.Match[str]) -> str:
            upstream = int(match[1])
            return "#" + ids[upstream] if upstream in ids else "#?"

        canonical = _REF.sub(resolve, task.label)
        ids[task.id] = hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()
    return ids


def _match(a: Sequence[TaskLike], b: Sequence[TaskLike]) -> dict[Hashable, TaskLike]:
    """B's task id → its match in A: by resolved label, then by name and position."""
    a_ids, b_ids = _identities(a), _identities(b)
    pools: dict[str, list[TaskLike]] = {}
    for task in a:
        pools.setdefault(a_ids[task.id], []).append(task)
    matched: dict[Hashable, TaskLike] = {}
    for task in b:
        pool = pools.get(b_ids[task.id])
        if pool:
            matched[task.id] = pool.pop(0)
    used = {id(t) for t in matched.values()}
    by_name: dict[str, list[TaskLike]] = {}
    for task in a:
        if id(task) not in used:
            by_name.setdefault(task.name, []).append(task)
    for task in b:
        if task.id not in matched and by_name.get(task.name):
            matched[task.id] = by_name[task.name].pop(0)
    return matched


def compare(run_a: RunLike, run_b: RunLike, *, threshold: float = 0.2,
            min_seconds: float = 0.001) -> RunDiff:
    """Compare two runs (live or stored): what changed from ``run_a`` to ``run_b``.

    A task is ``slower``/``faster`` when its duration changed by more than
    ``threshold`` (0.2: 20 %) and by at least ``min_seconds``.
    """
    if not threshold >= 0:
        raise ValueError(f"threshold must be a number >= 0, got {threshold!r}")
    before = Snapshot.of(run_a, critical_path=True, slack=False)
    after = Snapshot.of(run_b, critical_path=True, slack=False)
    matched = _match(before.tasks, after.tasks)
    changes: list[TaskChange] = []
    for task in after.tasks:
        old = matched.get(task.id)
        ratio = None
        if old is None:
            change: Change = "added"
        elif task.duration is None or old.duration is None:
            change = "status" if status_of(old) != status_of(task) else "not_run"
        else:
            ratio = task.duration / old.duration if old.duration > 0 else None
            delta = task.duration - old.duration
            if abs(delta) >= min_seconds and task.duration > old.duration * (1 + threshold):
                change = "slower"
            elif abs(delta) >= min_seconds and old.duration > task.duration * (1 + threshold):
                change = "faster"
            else:
                change = "same"
        changes.append(TaskChange(task, old, change, ratio))
    kept = {id(t) for t in matched.values()}
    removed = [t for t in before.tasks if id(t) not in kept]
    # The path moved unless the second run's path is the first's, task for matched task.
    a_of_b = {task_id: id(old) for task_id, old in matched.items()}
    a_by_id = {t.id: t for t in before.tasks}
    b_label = {t.id: t.label for t in after.tasks}
    moved = [a_of_b.get(i) for i in after.critical] != [id(a_by_id[i]) for i in before.critical]
    return RunDiff(before, after, changes, removed, threshold,
                   [a_by_id[i].label for i in before.critical],
                   [b_label[i] for i in after.critical], moved)


def diff(run_a: RunLike, run_b: RunLike, *, threshold: float = 0.2,
         min_seconds: float = 0.001, direction: Direction = "TB",
         max_label: int = 60) -> graphviz.Digraph:
    """The second run's DAG with what changed since the first (see the module's doc)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction: {direction!r} (must be one of {list(DIRECTIONS)})")
    return draw(compare(run_a, run_b, threshold=threshold, min_seconds=min_seconds),
                direction=direction, max_label=max_label)


def render_diff(run_a: RunLike, run_b: RunLike, path: str | os.PathLike[str], *,
                threshold: float = 0.2, min_seconds: float = 0.001,
                direction: Direction = "TB", max_label: int = 60) -> Path:
    """Write :func:`diff` to ``path`` (``.svg``, ``.png``, ``.pdf``, ``.dot``); return it."""
    path = Path(path)
    fmt = format_of(path)
    graph = diff(run_a, run_b, threshold=threshold, min_seconds=min_seconds,
                 direction=direction, max_label=max_label)
    write_atomic(path, graph.source.encode() if fmt is None else pipe(graph, fmt))
    return path


def draw(d: RunDiff, *, direction: Direction = "TB", max_label: int = 60) -> graphviz.Digraph:
    """The drawing of a computed :class:`RunDiff`."""
    graph = graphviz.Digraph(
        name=esc_string(one_line(shorten(f"{d.before.name} → {d.after.name}", 80))),
        graph_attr=graph_attrs(direction),
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": FONT,
                   "fontsize": "11", "color": LINE_COLOR, "penwidth": "1.2",
                   "margin": "0.12,0.06"},
        edge_attr=edge_defaults(),
    )
    graph.attr(label=_header(d))
    critical_now = set(d.after.critical)
    was_critical = {
        item.task.id for item in d.tasks
        if item.before is not None and item.before.id in set(d.before.critical)
    }
    for item in d.tasks:
        key = _fill_key(item)
        classes = [item.change] + (["status-changed"] if item.status_changed else [])
        attrs = {"fillcolor": FILL[key], "style": "rounded,filled"}
        if item.status_changed:
            attrs.update(color=STATUS_CHANGE_COLOR, penwidth="2.5")
        if item.task.id in critical_now:
            attrs.update(color=CRITICAL_COLOR, penwidth="3")
            classes.append("critical")
        elif item.task.id in was_critical:
            attrs.update(color=CRITICAL_COLOR, penwidth="2", style="rounded,filled,dashed")
            classes.append("was-critical")
        attrs["class"] = " ".join(classes)
        graph.node(str(item.task.id), label=_label(item, max_label), **attrs)
    ids = {t.id for t in d.after.tasks}
    critical_edges = d.after.critical_edges()
    for task in d.after.tasks:
        for upstream, kind in task.deps:
            if upstream in ids:
                attrs = {"class": str(kind)}
                if kind != "data":
                    attrs["style"] = "dashed"
                if (upstream, task.id) in critical_edges:
                    attrs.update(color=CRITICAL_COLOR, penwidth="2.6")
                graph.edge(str(upstream), str(task.id), **attrs)
    for task in d.removed:
        graph.node(f"removed{task.id}",
                   label=f"<{html_lines(wrap(shorten(task.label, max_label), 16))}"
                         f'<BR/><FONT POINT-SIZE="9">removed</FONT>>',
                   style="rounded,filled,dashed", fillcolor=FILL["removed"],
                   fontcolor=TEXT_GREY, color="#999999", **{"class": "removed"})
    return graph


def _fill_key(item: TaskChange) -> str:
    if item.change in ("slower", "faster") and item.ratio is not None:
        strong = item.ratio >= 2 if item.change == "slower" else item.ratio <= 0.5
        return f"much_{item.change}" if strong else item.change
    return item.change


def _label(item: TaskChange, max_label: int) -> str:
    body = html_lines(wrap(shorten(item.task.label, max_label), 16))
    notes: list[str] = []
    old, new = item.before, item.task
    if item.change == "added":
        notes.append("new")
    elif old is not None and old.duration is not None and new.duration is not None:
        ratio = f" (×{item.ratio:.2f})" if item.ratio is not None else ""
        notes.append(f"{format_seconds(old.duration)} → {format_seconds(new.duration)}{ratio}")
    if item.status_changed and old is not None:
        notes.append(f"{status_of(old)} → {status_of(new)}")
    elif status_of(new) is not TaskStatus.OK:
        notes.append(str(status_of(new)))
    if notes:
        body += f'<BR/><FONT POINT-SIZE="9" COLOR="{TEXT_GREY}">{html_lines(notes)}</FONT>'
    return f"<{body}>"


def _header(d: RunDiff) -> str:
    a, b = d.before, d.after
    change = (b.makespan - a.makespan) / a.makespan * 100 if a.makespan > 0 else 0.0
    moved = "critical path moved" if d.path_moved else "critical path unchanged"
    title = html_lines([one_line(shorten(f"{a.name} → {b.name}", 80))])
    summary = html_lines([
        f"makespan {format_seconds(a.makespan)} → {format_seconds(b.makespan)} "
        f"({change:+.0f} %); {moved}; threshold {d.threshold:.0%}"
    ])
    counts = d.counts()
    cells = [
        f'<TD BGCOLOR="{FILL["slower"]}" BORDER="1">slower {counts["slower"]}</TD>',
        f'<TD BGCOLOR="{FILL["faster"]}" BORDER="1">faster {counts["faster"]}</TD>',
        f'<TD BGCOLOR="{FILL["same"]}" BORDER="1">same {counts["same"]}</TD>',
        f'<TD BGCOLOR="{FILL["added"]}" BORDER="1">new {counts["added"]}</TD>',
        f'<TD BGCOLOR="{FILL["removed"]}" BORDER="1" STYLE="dashed">'
        f'removed {counts["removed"]}</TD>',
        f'<TD BORDER="2" COLOR="{STATUS_CHANGE_COLOR}">status changed {counts["status"]}</TD>',
        f'<TD BORDER="3" COLOR="{CRITICAL_COLOR}">critical path</TD>',
        f'<TD BORDER="2" COLOR="{CRITICAL_COLOR}" STYLE="dashed">was critical</TD>',
    ]
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="4" CELLPADDING="3">'
        f'<TR><TD ALIGN="LEFT" COLSPAN="{len(cells)}"><FONT POINT-SIZE="16"><B>{title}</B></FONT>'
        f'<FONT POINT-SIZE="12" COLOR="{TEXT_GREY}">  {summary}</FONT></TD></TR>'
        f"<TR>{''.join(cells)}</TR></TABLE>>"
    )
