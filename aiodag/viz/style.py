"""The look: status colours, fonts, edge styles, and the title-and-legend block.

Colours are pale fills, so black text stays readable, one per
:class:`~aiodag.TaskStatus`; the critical path is a thick dark-red outline and edge,
which reads on every fill.  The title and the legend live together in the graph's
own HTML-like label rather than in extra nodes, so every node of the drawing is a
task (or a task group) and the DOT source maps back to the run one to one.
"""

from __future__ import annotations

from collections.abc import Mapping

import graphviz

from ..events import TaskStatus
from .model import Snapshot
from .options import Options
from .text import esc_string, format_seconds, html_lines, one_line, shorten

__all__ = [
    "CRITICAL_COLOR",
    "FONT",
    "STATUS_FILL",
    "STATUS_ORDER",
    "edge_style",
    "graph_attrs",
    "header_label",
    "new_digraph",
    "node_style",
]

FONT = "Helvetica,Arial,sans-serif"
LINE_COLOR = "#4d4d4d"
TEXT_GREY = "#555555"
CRITICAL_COLOR = "#b71c1c"
ERROR_COLOR = "#8b0000"

STATUS_ORDER: tuple[TaskStatus, ...] = (
    TaskStatus.OK,
    TaskStatus.FAILED,
    TaskStatus.UPSTREAM_FAILED,
    TaskStatus.CANCELLED,
    TaskStatus.RUNNING,
    TaskStatus.PENDING,
)
"""The order of the legend, and of status counts in labels."""

STATUS_FILL: Mapping[TaskStatus, str] = {
    TaskStatus.OK: "#d5eed0",
    TaskStatus.FAILED: "#f4aaa3",
    TaskStatus.UPSTREAM_FAILED: "#fbd9a0",
    TaskStatus.CANCELLED: "#d9d9d9",
    TaskStatus.RUNNING: "#b7d4f4",
    TaskStatus.PENDING: "#ffffff",
}

# Not-yet-run nodes are outlined dashed, so they read as "not there yet" even in print.
_STATUS_STYLE: Mapping[TaskStatus, str] = {TaskStatus.PENDING: "filled,dashed"}

_MAX_TITLE = 80


def graph_attrs(direction: str) -> dict[str, str]:
    """Attributes of the whole graph."""
    return {
        "rankdir": direction,
        "fontname": FONT,
        "fontsize": "10",  # the legend's; the title sets its own
        "nodesep": "0.6",
        "ranksep": "0.55",
        "forcelabels": "true",  # place every timing label, even where space is tight
        "labelloc": "t",
        "labeljust": "l",
        "pad": "0.25",
        "bgcolor": "white",
    }


def node_defaults(shape: str) -> dict[str, str]:
    """Attributes shared by every node."""
    return {
        "shape": shape,
        "style": "filled",
        "fontname": FONT,
        "fontsize": "11",
        "color": LINE_COLOR,
        "penwidth": "1.2",
        "margin": "0.04" if shape == "circle" else "0.12,0.06",
    }


def edge_defaults() -> dict[str, str]:
    """Attributes shared by every edge."""
    return {
        "color": LINE_COLOR,
        "arrowsize": "0.7",
        "fontname": FONT,
        "fontsize": "10",
        "fontcolor": TEXT_GREY,
    }


def node_style(status: TaskStatus, *, critical: bool) -> dict[str, str]:
    """Fill, outline and SVG class of a node with ``status``."""
    attrs = {
        "fillcolor": STATUS_FILL[status],
        "style": _STATUS_STYLE.get(status, "filled"),
        # In SVG output the class lands on the node's <g>: CSS and scripts can use it.
        "class": f"{status}{' critical' if critical else ''}",
    }
    if critical:
        attrs.update(color=CRITICAL_COLOR, penwidth="3")
    return attrs


def edge_style(kind: str, *, critical: bool) -> dict[str, str]:
    """Line style of an edge: solid for data, dashed for exogenous dependencies."""
    attrs = {"class": f"{kind}{' critical' if critical else ''}"}
    if kind != "data":
        attrs["style"] = "dashed"
    if critical:
        attrs.update(color=CRITICAL_COLOR, penwidth="2.6", arrowsize="0.9")
    return attrs


def header_label(
    *,
    name: str,
    n_tasks: int,
    makespan: float,
    running: bool,
    counts: Mapping[TaskStatus, int],
    title: bool,
    legend: bool,
    critical_path: bool,
    note: str = "",
) -> str | None:
    """The graph's label: a title line above a legend row, as an HTML-like label."""
    rows: list[str] = []
    cells: list[str] = []
    if legend:
        for status in STATUS_ORDER:
            border = ' STYLE="dashed"' if status in _STATUS_STYLE else ""
            cells.append(
                f'<TD BGCOLOR="{STATUS_FILL[status]}" BORDER="1" COLOR="{LINE_COLOR}"'
                f'{border}>{status} {counts.get(status, 0):,}</TD>'
            )
        if critical_path:
            cells.append(
                f'<TD BORDER="3" COLOR="{CRITICAL_COLOR}">'
                f'<FONT COLOR="{CRITICAL_COLOR}">critical path</FONT></TD>'
            )
        cells.append('<TD BORDER="1" STYLE="dashed">exogenous dependency</TD>')
    if title:
        when = f"{format_seconds(makespan)} so far" if running else format_seconds(makespan)
        state = "running, " if running else ""
        summary = f"  {n_tasks:,} task{'s' if n_tasks != 1 else ''}, {state}makespan {when}"
        title_text = html_lines([one_line(shorten(name, _MAX_TITLE))])
        heading = (
            f'<FONT POINT-SIZE="16"><B>{title_text}</B></FONT>'
            f'<FONT POINT-SIZE="12" COLOR="{TEXT_GREY}">{html_lines([summary + note])}</FONT>'
        )
        span = f' COLSPAN="{len(cells)}"' if cells else ""
        rows.append(f'<TR><TD ALIGN="LEFT" BORDER="0"{span}>{heading}</TD></TR>')
    if cells:
        rows.append(f"<TR>{''.join(cells)}</TR>")
    if not rows:
        return None
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="4" CELLPADDING="3">'
        f"{''.join(rows)}</TABLE>>"
    )


def new_digraph(snap: Snapshot, opts: Options, *, shape: str, note: str = "") -> graphviz.Digraph:
    """An empty Digraph with the look, the title and the legend of ``snap``."""
    graph = graphviz.Digraph(
        # The graph's name becomes the SVG's <title>; escaped like any user text.
        name=esc_string(one_line(shorten(snap.name, _MAX_TITLE))),
        graph_attr=graph_attrs(opts.direction),
        node_attr=node_defaults(shape),
        edge_attr=edge_defaults(),
    )
    label = header_label(
        name=snap.name,
        n_tasks=len(snap.tasks),
        makespan=snap.makespan,
        running=snap.running,
        counts=snap.counts,
        title=opts.title,
        legend=opts.legend,
        critical_path=opts.critical_path and not snap.running,
        note=note,
    )
    if label is not None:
        graph.attr(label=label)
    return graph
