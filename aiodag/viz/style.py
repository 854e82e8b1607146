"""The look: status colours, fonts, edge styles, and the title-and-legend block.

Colours are pale fills, so black text stays readable, one per
:class:`~aiodag.TaskStatus`; the critical path is a thick dark-red outline and edge,
which reads on every fill.  Edges differ by line *and* colour: data solid grey,
exogenous dotted grey with a hollow head (never dashed: a dashed outline means
"pending" on a node), spawned dashed purple.  The title and the legend live together
in the graph's own HTML-like label rather than in extra nodes, so every node of the
drawing is a task (or a task group) and the DOT source maps back to the run; the
legend lists only what the drawing shows.
"""

from __future__ import annotations

from collections.abc import Mapping

import graphviz

from ..events import TaskStatus
from .drawing import Drawing
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
SPAWN_COLOR = "#6a3d9a"

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

_MAX_TITLE = 80


def graph_attrs(direction: str) -> dict[str, str]:
    """Attributes of the whole graph."""
    return {
        "rankdir": direction,
        "fontname": FONT,
        "fontsize": "10",  # the legend's; the title sets its own
        "nodesep": "0.3",
        "ranksep": "0.45",
        "labelloc": "t",
        "labeljust": "l",
        "pad": "0.25",
        "bgcolor": "white",
    }


def node_defaults() -> dict[str, str]:
    """Attributes shared by every node."""
    return {
        "shape": "box",
        "style": "rounded,filled",
        "fontname": FONT,
        "fontsize": "11",
        "color": LINE_COLOR,
        "penwidth": "1.2",
        "margin": "0.1,0.05",
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


def node_style(status: TaskStatus, *, critical: bool, stack: bool = False) -> dict[str, str]:
    """Fill, outline and SVG class of a node with ``status``; a stack is drawn as one."""
    style = "rounded,filled"
    if status is TaskStatus.PENDING:
        style += ",dashed"  # not-yet-run nodes read as "not there yet", even in print
    attrs = {
        "fillcolor": STATUS_FILL[status],
        "style": style,
        # In SVG output the class lands on the node's <g>: CSS and scripts can use it.
        "class": f"{'stack ' if stack else ''}{status}{' critical' if critical else ''}",
    }
    if stack:
        # A box with a second outline behind it: a stack of cards, several calls.
        attrs.update(shape="box3d", style=style.replace("rounded,", ""))
    if critical:
        attrs.update(color=CRITICAL_COLOR, penwidth="3")
    return attrs


def edge_style(kind: str, *, critical: bool) -> dict[str, str]:
    """Line style of an edge: data solid, exogenous dotted, spawned dashed purple."""
    attrs = {"class": f"{kind}{' critical' if critical else ''}"}
    if kind == "exogenous":
        attrs.update(style="dotted", arrowhead="empty", penwidth="1.4")
    elif kind == "spawned":
        attrs.update(style="dashed", color=SPAWN_COLOR, arrowhead="vee")
    if critical:
        attrs.update(color=CRITICAL_COLOR, penwidth="2.6", arrowsize="0.9")
    return attrs


def header_label(drawing: Drawing, opts: Options) -> str | None:
    """The graph's label: a title line above a legend row, as an HTML-like label.

    The legend lists only what the drawing shows: the statuses its tasks have (with
    their counts), and the critical path, stacks and edge kinds where there are any.
    """
    snap = drawing.snap
    rows: list[str] = []
    cells: list[tuple[str, str]] = []  # (cell, its text alone, to estimate its width)
    if opts.legend:
        for status in STATUS_ORDER:
            count = snap.counts.get(status, 0)
            if not count:
                continue
            border = ' STYLE="dashed"' if status is TaskStatus.PENDING else ""
            text = f"{status} {count:,}"
            cells.append((
                f'<TD BGCOLOR="{STATUS_FILL[status]}" BORDER="1" COLOR="{LINE_COLOR}"'
                f"{border}>{text}</TD>",
                text,
            ))
        if drawing.has_stacks:
            text = "▤ name ×N: sibling calls, stacked"
            cells.append((f'<TD BORDER="0">{text}</TD>', text))
        if drawing.has_critical:
            text = "━━▶ critical path"
            cells.append((
                f'<TD BORDER="0"><FONT COLOR="{CRITICAL_COLOR}"><B>{text}</B></FONT></TD>',
                text,
            ))
        kinds = drawing.edge_kinds
        if "exogenous" in kinds:
            text = "┈┈▷ waits for (exogenous)"
            cells.append((f'<TD BORDER="0">{text}</TD>', text))
        if "spawned" in kinds:
            text = "╌╌> spawned (called in its body)"
            cells.append((
                f'<TD BORDER="0"><FONT COLOR="{SPAWN_COLOR}">{html_lines([text])}</FONT></TD>',
                text,
            ))
    title_width = 0.0
    if opts.title:
        n_tasks = len(snap.tasks)
        makespan = format_seconds(snap.makespan)
        when = f"{makespan} so far" if snap.running else makespan
        state = "running, " if snap.running else ""
        summary = f"  {n_tasks:,} task{'s' if n_tasks != 1 else ''}, {state}makespan {when}"
        name = one_line(shorten(snap.name, _MAX_TITLE))
        heading = (
            f'<FONT POINT-SIZE="16"><B>{html_lines([name])}</B></FONT>'
            f'<FONT POINT-SIZE="12" COLOR="{TEXT_GREY}">'
            f"{html_lines([summary + drawing.note])}</FONT>"
        )
        span = f' COLSPAN="{len(cells) + 1}"' if cells else ""
        rows.append(f'<TR><TD ALIGN="LEFT" BORDER="0"{span}>{heading}</TD></TR>')
        # A low estimate (Helvetica averages about 0.5 em): the filler below must not
        # make the label wider than the title.
        title_width = 16 * 0.5 * len(name) + 12 * 0.45 * len(summary + drawing.note)
    if cells:
        # Graphviz gives the room a long title leaves to the legend's cells, stretching
        # them; a last cell of (an estimate of) that room's width takes it instead.
        legend_width = sum(10 * 0.6 * len(text) + 14 for _cell, text in cells)
        filler = max(int(title_width - legend_width), 1)
        row = "".join(cell for cell, _text in cells)
        rows.append(f'<TR>{row}<TD BORDER="0" WIDTH="{filler}"></TD></TR>')
    if not rows:
        return None
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="4" CELLPADDING="3">'
        f"{''.join(rows)}</TABLE>>"
    )


def new_digraph(drawing: Drawing, opts: Options) -> graphviz.Digraph:
    """An empty Digraph with the look, the title and the legend of ``drawing``."""
    graph = graphviz.Digraph(
        # The graph's name becomes the SVG's <title>; escaped like any user text.
        name=esc_string(one_line(shorten(drawing.snap.name, _MAX_TITLE))),
        graph_attr=graph_attrs(opts.direction),
        node_attr=node_defaults(),
        edge_attr=edge_defaults(),
    )
    label = header_label(drawing, opts)
    if label is not None:
        graph.attr(label=label)
    return graph
