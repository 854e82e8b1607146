"""The aggregated drawing of a large run: one node per task *name*.

``dot`` lays out a few thousand nodes at most, and nobody reads more.  Above the
``max_nodes`` threshold (when stacking fan-outs does not bring it under) a run is
drawn as its task names: each node counts the calls of one name, by status, with
their total, mean and longest duration; each edge says how many dependencies (of one
kind, or spawns) it stands for.  Building it is one pass over the tasks and their
dependencies, so a run of 100,000 tasks draws in well under a second.

Group nodes are named ``g0``, ``g1``, … in the order the names were first called.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable

from ..events import TaskStatus
from . import style
from .drawing import PRECEDENCE, Drawing, Edge, EdgeKind, Node
from .model import Snapshot, TaskLike, caller_of
from .options import Options
from .text import format_seconds, format_slack, shorten, wrap

__all__ = ["aggregate_drawing"]

_KINDS: tuple[EdgeKind, ...] = ("exogenous", "data", "spawned")


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
        return next(s for s in PRECEDENCE if self.statuses[s])

    def facts(self, makespan: float) -> list[str]:
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
            lines.append(f"min slack {format_slack(self.min_slack, makespan)}")
        return lines


def aggregate_drawing(snap: Snapshot, opts: Options) -> Drawing:
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

    # Each edge counted under one integer, (up * n + down) * 3 + kind: hashing ints
    # is several times cheaper than hashing tuples with enum members in them.
    n = len(groups)
    get = index_of.get
    counts = Counter([
        (up * n + index_of[task.id]) * 3 + (kind == "data")
        for task in snap.tasks
        for upstream, kind in task.deps
        if (up := get(upstream)) is not None
    ])
    counts.update([
        (up * n + index_of[task.id]) * 3 + 2
        for task in snap.tasks
        if (caller := caller_of(task)) is not None and (up := get(caller)) is not None
    ])

    critical_groups = {index_of[i] for i in snap.critical if i in index_of}
    critical_edges = {
        (index_of[up], index_of[down])
        for up, down in snap.critical_edges()
        if up in index_of and down in index_of
    }

    nodes = [
        Node(
            name=group.node,
            kind="group",
            status=group.status(),
            critical=group.index in critical_groups,
            title=wrap(shorten(group.name, opts.max_label), opts.wrap),
            facts=group.facts(snap.makespan),
            tooltip=group.name,
            size_key=group.node,
        )
        for group in groups
    ]
    edges = []
    for key, count in counts.items():
        up, down = divmod(key // 3, n)
        kind = _KINDS[key % 3]
        if up == down and kind == "spawned":
            continue  # a task of one name calling more of that name: said by the count
        critical = kind != "spawned" and (up, down) in critical_edges
        edges.append(Edge(f"g{up}", f"g{down}", kind, critical, count))
    why = f"more than {opts.max_nodes:,} tasks" if opts.aggregate is None else "aggregate=True"
    note = f", drawn as {n:,} task name{'s' if n != 1 else ''} ({why})"
    heads = {edge.head for edge in edges if edge.head != edge.tail}
    sources = [node.name for node in nodes if node.name not in heads]
    return Drawing(snap, nodes, edges, note=note, sources=sources)
