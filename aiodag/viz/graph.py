"""``to_graphviz``: a run as a :class:`graphviz.Digraph`, one node per task call.

Building the graph needs no Graphviz binary: it is DOT text (``graph.source``).
The node of a task is named ``str(task.id)``, so SVG elements (whose ``<title>`` is
the node name) and tools reading the DOT map back to the run's tasks.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Unpack

import graphviz

from ..events import TaskStatus
from . import style
from .aggregate import aggregate_graph
from .model import RunLike, Snapshot, TaskLike, error_info
from .options import Options, VizOptions
from .text import esc_string, format_seconds, html_lines, shorten, wrap

__all__ = ["node_name", "to_graphviz"]

_PLAIN_ID = re.compile(r"[A-Za-z0-9_.-]+")
_MAX_TOOLTIP = 500


def to_graphviz(run: RunLike, **options: Unpack[VizOptions]) -> graphviz.Digraph:
    """Draw ``run`` (finished or still running) as a :class:`graphviz.Digraph`.

    One node per task, labelled with its call, with its duration and finishing time
    beside it; arrows from each upstream to its dependents (dashed for exogenous
    dependencies); colours by status; the critical path stands out.  A run of more
    than ``max_nodes`` tasks is drawn aggregated, one node per task name.  See
    :class:`~aiodag.viz.options.Options` for every option.  The result shows inline
    in Jupyter; ``.source`` is the DOT text; :func:`~aiodag.viz.render` writes files.

    >>> graph = aiodag.viz.to_graphviz(run, direction="LR", slack=True)
    """
    opts = Options.from_kwargs(options)
    snap = Snapshot.of(run, critical_path=opts.critical_path, slack=opts.slack)
    if opts.use_aggregate(len(snap.tasks)):
        return aggregate_graph(snap, opts)
    return _task_graph(snap, opts)


def node_name(task_id: Hashable, names: dict[Hashable, str]) -> str:
    """The DOT node name of a task: ``str(id)``, or ``task<n>`` if that is not plain.

    aiodag's ids are integers, always plain.  Ids of other runs that contain quotes,
    colons (DOT's port separator) or the like are replaced rather than quoted, so an
    edge statement can never be misread.
    """
    name = names.get(task_id)
    if name is None:
        text = str(task_id)
        name = text if _PLAIN_ID.fullmatch(text) else f"task{len(names)}"
        names[task_id] = name
    return name


def _task_graph(snap: Snapshot, opts: Options) -> graphviz.Digraph:
    graph = style.new_digraph(snap, opts, shape="circle")
    critical = set(snap.critical)
    critical_edges = snap.critical_edges()
    names: dict[Hashable, str] = {}
    for task in snap.tasks:
        node_name(task.id, names)
    # Tasks with no upstream in the run start the drawing, as the fetches start the
    # seed's figure; otherwise dot sinks a short chain's first task down a rank or two.
    # (Listed before the nodes' own statements, so dot meets them in call order.)
    sources = [names[t.id] for t in snap.tasks if not any(up in names for up, _ in t.deps)]
    if len(sources) > 1:
        with graph.subgraph() as first:
            first.attr(rank="source")
            for name in sources:
                first.node(name)
    for task in snap.tasks:
        status = snap.statuses[task.id]
        attrs = style.node_style(status, critical=task.id in critical)
        attrs["tooltip"] = _tooltip(task, status)
        xlabel = _timings(task, status, snap) if opts.timings else None
        if xlabel is not None:
            attrs["xlabel"] = xlabel
        graph.node(names[task.id], label=_label(task, status, opts), **attrs)
    for task in snap.tasks:
        for upstream, kind in task.deps:
            if upstream not in names:
                continue  # a task of another run (or none): not drawn
            graph.edge(
                names[upstream],
                names[task.id],
                **style.edge_style(str(kind), critical=(upstream, task.id) in critical_edges),
            )
    return graph


def _label(task: TaskLike, status: TaskStatus, opts: Options) -> str:
    lines = wrap(shorten(task.label, opts.max_label), opts.wrap)
    body = html_lines(lines)
    if status is TaskStatus.FAILED:
        info = error_info(task)
        if info is not None:
            error = html_lines(wrap(shorten(info.type, opts.max_label), opts.wrap))
            body += f'<BR/><FONT POINT-SIZE="10" COLOR="{style.ERROR_COLOR}"><B>{error}</B></FONT>'
    return f"<{body}>"


def _timings(task: TaskLike, status: TaskStatus, snap: Snapshot) -> str | None:
    """The text beside a node, as in the seed's figure: duration and finishing time."""
    lines: list[str] = []
    duration, started, finished = task.duration, task.started, task.finished
    if status is TaskStatus.RUNNING and started is not None:
        lines.append(f"Started at: {format_seconds(started)}")
        lines.append(f"Running for: {format_seconds(max(snap.makespan - started, 0.0))}")
    else:
        if duration is not None:
            lines.append(f"Duration: {format_seconds(duration)}")
        if finished is not None:
            lines.append(f"Finished at: {format_seconds(finished)}")
    if snap.slack is not None and task.id in snap.slack:
        lines.append(f"Slack: {format_seconds(snap.slack[task.id])}")
    if not lines:
        return None
    text = html_lines(lines, align="LEFT")
    return f'<<FONT POINT-SIZE="9" COLOR="{style.TEXT_GREY}">{text}</FONT>>'


def _tooltip(task: TaskLike, status: TaskStatus) -> str:
    """The hover text in SVG: the whole label, the status and any error message."""
    text = f"{task.label}\n{status}"
    info = error_info(task)
    if info is not None and status is TaskStatus.FAILED:
        text += f"\n{info.type}: {info.message}"
    return esc_string(shorten(text, _MAX_TOOLTIP))
