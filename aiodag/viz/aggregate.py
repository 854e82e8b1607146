"""The aggregated drawing of a large run: one node per task *name*.

``dot`` lays out a few thousand nodes at most, and nobody reads more.  Above the
``max_nodes`` threshold a run is drawn as its task names: each node counts the calls
of one name, by status, with their total, mean and longest duration; each edge says
how many dependencies (of one kind) it stands for.  Building it is one pass over the
tasks and their dependencies, so a run of 100,000 tasks draws in well under a second.

Group nodes are named ``g0``, ``g1``, … in the order the names were first called.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable

import graphviz

from ..events import TaskStatus
from . import style
from .model import Snapshot, TaskLike
from .options import Options
from .text import esc_string, format_seconds, html_lines, shorten, wrap

__all__ = ["aggregate_graph"]

# A group's colour is that of its most telling status: trouble first, then progress.
_PRECEDENCE = (
    TaskStatus.FAILED,
    TaskStatus.UPSTREAM_FAILED,
    TaskStatus.CANCELLED,
    TaskStatus.RUNNING,
    TaskStatus.PENDING,
    TaskStatus.OK,
)


class _Group:
    """The tasks of one name, summed up."""

    __slots__ = ("count", "index", "max", "mean", "min_slack", "name", "statuses", "total")

    def __init__(self, index: int, name: str, tasks: list[TaskLike], snap: Snapshot) -> None:
        self.index = index
        self.name = name
        self.count = len(tasks)
        statuses = snap.statuses
        self.statuses = Counter([statuses[task.id] for task in tasks])
        durations = [d for task in tasks if (d := task.duration) is not None]
        self.total = sum(durations)
        self.mean = self.total / len(durations) if durations else None
        self.max = max(durations, default=0.0)
        slack = snap.slack
        self.min_slack = (
            None
            if slack is None
            else min((slack[t.id] for t in tasks if t.id in slack), default=None)
        )

    @property
    def node(self) -> str:
        return f"g{self.index}"

    def status(self) -> TaskStatus:
        return next(s for s in _PRECEDENCE if self.statuses[s])

    def label(self, opts: Options) -> str:
        lines = [f"{self.count:,} task{'s' if self.count != 1 else ''}"]
        lines.append(
            " · ".join(f"{s} {self.statuses[s]:,}" for s in style.STATUS_ORDER if self.statuses[s])
        )
        if self.mean is not None:
            lines.append(
                f"total {format_seconds(self.total)} · "
                f"mean {format_seconds(self.mean)} · "
                f"max {format_seconds(self.max)}"
            )
        if self.min_slack is not None:
            lines.append(f"min slack {format_seconds(self.min_slack)}")
        name = html_lines(wrap(shorten(self.name, opts.max_label), opts.wrap))
        return (
            f'<<B>{name}</B><BR/><FONT POINT-SIZE="10" COLOR="{style.TEXT_GREY}">'
            f"{html_lines(lines)}</FONT>>"
        )


def aggregate_graph(snap: Snapshot, opts: Options) -> graphviz.Digraph:
    """Draw ``snap`` with one node per task name (see the module docstring)."""
    # Written for 100,000s of tasks: group first, then sum each group up with
    # comprehensions and Counter, which run their loops in C.
    members: dict[str, list[TaskLike]] = {}
    for task in snap.tasks:
        same_name = members.get(task.name)
        if same_name is None:
            same_name = members[task.name] = []
        same_name.append(task)
    groups = [_Group(i, name, tasks, snap) for i, (name, tasks) in enumerate(members.items())]
    index_of: dict[Hashable, int] = {}
    for group, tasks in zip(groups, members.values(), strict=True):
        index_of.update(dict.fromkeys([task.id for task in tasks], group.index))

    # Each edge counted under one integer, (up * n + down) * 2 + is_data: hashing ints
    # is several times cheaper than hashing tuples with enum members in them.
    n = len(groups)
    get = index_of.get
    counts = Counter([
        (up * n + index_of[task.id]) * 2 + (kind == "data")
        for task in snap.tasks
        for upstream, kind in task.deps
        if (up := get(upstream)) is not None
    ])
    edges = {
        (*divmod(key >> 1, n), "data" if key & 1 else "exogenous"): count
        for key, count in counts.items()
    }

    critical_groups = {index_of[i] for i in snap.critical if i in index_of}
    critical_edges = {
        (index_of[up], index_of[down])
        for up, down in snap.critical_edges()
        if up in index_of and down in index_of
    }

    why = f"more than {opts.max_nodes:,} tasks" if opts.aggregate is None else "aggregate=True"
    note = f", drawn as {n:,} task name{'s' if n != 1 else ''} ({why})"
    graph = style.new_digraph(snap, opts, shape="box", note=note)
    for group in groups:
        status = group.status()
        attrs = style.node_style(status, critical=group.index in critical_groups)
        attrs["style"] = "rounded," + attrs["style"]
        attrs["tooltip"] = esc_string(group.name)
        graph.node(group.node, label=group.label(opts), **attrs)
    for (up, down, kind), count in edges.items():
        attrs = style.edge_style(kind, critical=(up, down) in critical_edges)
        attrs.setdefault("penwidth", f"{1 + 0.5 * min(math.log10(count), 4):.2f}")
        graph.edge(f"g{up}", f"g{down}", label=f"{count:,}", **attrs)
    return graph
