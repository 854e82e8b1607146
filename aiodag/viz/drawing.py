"""A run as a drawing, before any format: nodes with their text, edges with their kind.

Graphviz (:mod:`.graph`) and Mermaid (:mod:`.mermaid`) draw the same
:class:`Drawing`, so both show the same nodes, numbers and references.  What is
decided here:

* **One node per call**, except sibling calls of a fan-out (:mod:`.stacks`), drawn as
  one stacked node ``fetch ×50 (3 failed)`` with the spread of their durations once
  there are ``stack`` or more of them; and except runs too large to lay out, drawn
  one node per task name (:mod:`.aggregate`).
* **The node carries its numbers**: under the call, how long it ran and when it
  ended (seconds from the run's start), or how long it has been running.
* **References can be followed** (:mod:`.references`): short upstream calls are
  written out, the others named by id, and their nodes show that ``#id``.
* **Spawned tasks**: a task called from inside another task's body gets an edge of
  its own kind from that task.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..analysis import attempt_count
from ..events import TaskStatus
from .model import Snapshot, TaskLike, caller_of, error_info
from .options import Options
from .references import call_texts
from .stacks import sibling_groups
from .text import format_seconds, format_slack, shorten, wrap

__all__ = ["Drawing", "Edge", "EdgeKind", "Node", "build_drawing", "task_drawing"]

EdgeKind = Literal["data", "exogenous", "spawned"]

_PLAIN_ID = re.compile(r"[A-Za-z0-9_.-]+")
_MAX_TOOLTIP = 500
_TOOLTIP_MEMBERS = 12

# A stack's colour is that of its most telling status: trouble first, then progress.
PRECEDENCE = (
    TaskStatus.FAILED,
    TaskStatus.UPSTREAM_FAILED,
    TaskStatus.CANCELLED,
    TaskStatus.RUNNING,
    TaskStatus.PENDING,
    TaskStatus.OK,
)

# How many tasks at most are searched for fan-outs, as a multiple of max_nodes: the
# search is a few passes over the DAG, and beyond this the run is drawn by name anyway.
_STACK_SEARCH = 4


@dataclass(slots=True)
class Node:
    """One node: a task, a stack of sibling tasks, or all the tasks of one name."""

    name: str
    """Its name in the output: ``str(task id)``, ``s<id>`` (stack), ``g<n>`` (name)."""
    kind: Literal["task", "stack", "group"]
    status: TaskStatus
    critical: bool
    title: list[str]
    """The call, in lines (literal text, not yet escaped)."""
    facts: list[str]
    """Smaller lines under the call: its id when referenced, timings, slack."""
    tooltip: str
    size_key: str
    """Nodes with the same key are drawn the same size (the same task name)."""
    error: str | None = None
    """The error type of a failed task (or the commonest of a stack's)."""
    task_ids: tuple[Hashable, ...] = ()


@dataclass(slots=True)
class Edge:
    """Dependencies (or spawns) from one node to another, ``count`` of them."""

    tail: str
    head: str
    kind: EdgeKind
    critical: bool = False
    count: int = 1


@dataclass(slots=True)
class Drawing:
    """Everything to draw, in call order; the legend lists only what is here."""

    snap: Snapshot
    nodes: list[Node]
    edges: list[Edge]
    note: str = ""
    """Said in the title after the task count (why a run is drawn aggregated)."""
    sources: list[str] = field(default_factory=list)
    """Nodes with no edge coming in, in call order: the top row of the drawing."""

    @property
    def edge_kinds(self) -> set[EdgeKind]:
        return {edge.kind for edge in self.edges}

    @property
    def has_critical(self) -> bool:
        return any(node.critical for node in self.nodes)

    @property
    def has_stacks(self) -> bool:
        return any(node.kind == "stack" for node in self.nodes)


def build_drawing(snap: Snapshot, opts: Options) -> Drawing:
    """The drawing of ``snap``: per call (fan-outs stacked), or per name if too large."""
    from .aggregate import aggregate_drawing  # (aggregate imports this module)

    n = len(snap.tasks)
    if opts.aggregate is True:
        return aggregate_drawing(snap, opts)
    if opts.aggregate is None and n > opts.max_nodes:
        if opts.stack < 2 or n > _STACK_SEARCH * opts.max_nodes:
            return aggregate_drawing(snap, opts)
        groups = sibling_groups(snap.tasks, opts.stack)
        drawn = sum(1 if len(g) >= opts.stack else len(g) for g in groups)
        if drawn > opts.max_nodes:
            return aggregate_drawing(snap, opts)
        return task_drawing(snap, opts, groups)
    return task_drawing(snap, opts)


def task_drawing(
    snap: Snapshot, opts: Options, groups: list[list[int]] | None = None
) -> Drawing:
    """One node per call, sibling calls of a fan-out stacked (``opts.stack``)."""
    tasks = snap.tasks
    by_id = {task.id: task for task in tasks}
    if groups is None:
        groups = (
            sibling_groups(tasks, opts.stack) if opts.stack >= 2
            else [[i] for i in range(len(tasks))]
        )
    min_stack = max(opts.stack, 2) if opts.stack else len(tasks) + 1

    # Node names: the task id (plain ids only: DOT ports, Mermaid syntax), or a stack's.
    node_of: dict[Hashable, str] = {}
    stacks: list[list[TaskLike]] = []
    used: set[str] = set()
    for group in sorted(groups, key=lambda g: g[0]):
        members = [tasks[i] for i in group]
        if len(members) >= min_stack:
            name = _unique(f"s{members[0].id}", used)
            stacks.append(members)
            node_of.update(dict.fromkeys([t.id for t in members], name))
        else:
            for task in members:
                node_of[task.id] = _unique(_plain_name(task.id, len(used)), used)

    stack_of = {t.id: i for i, members in enumerate(stacks) for t in members}
    texts, referenced = call_texts(tasks, by_id, stack_of, opts.max_label)
    critical = set(snap.critical)
    stack_of_first = {id(members[0]): members for members in stacks}

    nodes: list[Node] = []
    seen: set[str] = set()
    for task in tasks:
        name = node_of[task.id]
        if name in seen:
            continue
        seen.add(name)
        stack = stack_of_first.get(id(task))
        if stack is None:
            nodes.append(_task_node(task, name, texts[task.id], snap, opts,
                                    task.id in referenced, task.id in critical))
        else:
            nodes.append(_stack_node(stack, name, snap, opts, referenced, critical))
    edges = _edges(tasks, node_of, snap)
    return Drawing(snap, nodes, edges, sources=_sources(nodes, edges))


# -- labels -------------------------------------------------------------------------


def _timing_facts(task: TaskLike, status: TaskStatus, snap: Snapshot) -> list[str]:
    duration, started, finished = task.duration, task.started, task.finished
    if status is TaskStatus.RUNNING and started is not None:
        return [f"running {format_seconds(max(snap.makespan - started, 0.0))}",
                f"since {format_seconds(started)}"]
    if status is TaskStatus.PENDING:
        return ["waiting"]
    facts = []
    if duration is not None:
        facts.append(f"ran {format_seconds(duration)}")
    elif status.is_terminal:
        facts.append("did not run")
    if finished is not None:
        facts.append(f"ended at {format_seconds(finished)}")
    return facts


def _task_node(task: TaskLike, name: str, text: str, snap: Snapshot, opts: Options,
               referenced: bool, critical: bool) -> Node:
    status = snap.statuses[task.id]
    facts = _timing_facts(task, status, snap) if opts.timings else []
    if referenced:
        # The id goes first, where a reader looking for "fetch#5" finds "#5".
        facts[:1] = [f"#{task.id}" + (f" · {facts[0]}" if facts else "")]
    if snap.slack is not None and task.id in snap.slack:
        facts.append(f"slack {format_slack(snap.slack[task.id], snap.makespan)}")
    if status is TaskStatus.FAILED and getattr(task, "handled", False):
        facts.append("handled: the run went on")
    attempts = attempt_count(task)
    if attempts > 1:
        facts.append(f"{attempts} attempts")
    if status is TaskStatus.FAILED and getattr(task, "timed_out", False):
        facts.append("timed out")
    blocked = snap.blocked.get(task.id)
    if blocked is not None and opts.timings:
        facts.append(f"⚠ blocked the loop {format_seconds(blocked)}")
    info = error_info(task) if status is TaskStatus.FAILED else None
    tooltip = f"#{task.id} {text}\n{status}"
    if info is not None:
        tooltip += f"\n{info.type}: {info.message}"
    return Node(
        name=name,
        kind="task",
        status=status,
        critical=critical,
        title=wrap(text, opts.wrap),
        facts=facts,
        tooltip=shorten(tooltip, _MAX_TOOLTIP),
        size_key=f"task:{task.name}",
        error=None if info is None else shorten(info.type, max(opts.wrap, 12)),
        task_ids=(task.id,),
    )


def _stack_node(members: list[TaskLike], name: str, snap: Snapshot, opts: Options,
                referenced: set[Hashable], critical: set[Hashable]) -> Node:
    statuses = Counter([snap.statuses[t.id] for t in members])
    status = next(s for s in PRECEDENCE if statuses[s])
    others = [f"{statuses[s]:,} {s}" for s in PRECEDENCE if s is not TaskStatus.OK and statuses[s]]
    head = f"{members[0].name} ×{len(members):,}"
    title = wrap(shorten(head, opts.max_label), opts.wrap)
    if others:
        title += [f"({status})" for status in others]  # one per line, never cut mid-word
    facts: list[str] = []
    ids = [t.id for t in members]
    if any(i in referenced for i in ids):
        facts.append(f"#{ids[0]} … #{ids[-1]}")
    if opts.timings:
        durations = sorted(d for t in members if (d := t.duration) is not None)
        if durations:
            low, high = format_seconds(durations[0]), format_seconds(durations[-1])
            facts.append(f"ran {low}" if low == high else f"ran {low}–{high}")
            if low != high:
                facts.append(f"median {format_seconds(statistics.median(durations))}")
        ends = [f for t in members if (f := t.finished) is not None]
        if ends and len(ends) == len(members):
            facts.append(f"last ended at {format_seconds(max(ends))}")
        elif statuses[TaskStatus.RUNNING]:
            facts.append(f"{statuses[TaskStatus.RUNNING]:,} running")
    if snap.slack is not None:
        slacks = [snap.slack[i] for i in ids if i in snap.slack]
        if slacks:
            facts.append(f"slack {format_slack(min(slacks), snap.makespan)}")
    retried = sum(1 for t in members if attempt_count(t) > 1)
    if retried:
        facts.append(f"{retried:,} retried")
    timed_out = sum(1 for t in members if snap.statuses[t.id] is TaskStatus.FAILED
                    and getattr(t, "timed_out", False))
    if timed_out:
        facts.append(f"{timed_out:,} timed out")
    errors = Counter(
        info.type for t in members
        if snap.statuses[t.id] is TaskStatus.FAILED and (info := error_info(t)) is not None
    )
    error = None
    if errors:
        (kind, _n), *rest = errors.most_common()
        error = shorten(kind, max(opts.wrap, 12)) + (f" +{len(rest)}" if rest else "")
    shown = [t.label for t in members[:_TOOLTIP_MEMBERS]]
    if len(members) > _TOOLTIP_MEMBERS:
        shown.append(f"… and {len(members) - _TOOLTIP_MEMBERS:,} more")
    tooltip = "\n".join([head + (f" ({', '.join(others)})" if others else ""), *shown])
    return Node(
        name=name,
        kind="stack",
        status=status,
        critical=any(i in critical for i in ids),
        title=title,
        facts=facts,
        tooltip=shorten(tooltip, _MAX_TOOLTIP),
        size_key=f"stack:{members[0].name}",
        error=error,
        task_ids=tuple(ids),
    )


# -- edges --------------------------------------------------------------------------


def _edges(tasks: Sequence[TaskLike], node_of: dict[Hashable, str], snap: Snapshot) -> list[Edge]:
    critical_pairs = snap.critical_edges()
    edges: dict[tuple[str, str, EdgeKind], Edge] = {}
    for task in tasks:
        head = node_of[task.id]
        links: list[tuple[Hashable, EdgeKind]] = [
            (up, "data" if str(kind) == "data" else "exogenous") for up, kind in task.deps
        ]
        caller = caller_of(task)
        if caller is not None:
            links.append((caller, "spawned"))
        for upstream, kind in links:
            tail = node_of.get(upstream)
            if tail is None or tail == head:
                continue  # a task of another run (or none), or inside one stack
            key = (tail, head, kind)
            edge = edges.get(key)
            if edge is None:
                edge = edges[key] = Edge(tail, head, kind)
            else:
                edge.count += 1
            if kind != "spawned" and (upstream, task.id) in critical_pairs:
                edge.critical = True
    return list(edges.values())


def _sources(nodes: list[Node], edges: list[Edge]) -> list[str]:
    heads = {edge.head for edge in edges}
    return [node.name for node in nodes if node.name not in heads]


def _plain_name(task_id: Hashable, n: int) -> str:
    """``str(id)``, or ``task<n>`` if that is not a plain name in DOT and Mermaid."""
    text = str(task_id)
    return text if _PLAIN_ID.fullmatch(text) else f"task{n}"


def _unique(name: str, used: set[str]) -> str:
    while name in used:
        name += "_"
    used.add(name)
    return name
