"""``to_mermaid``: a run as a Mermaid flowchart, to paste where Markdown renders.

GitHub issues and READMEs, GitLab, Notion, Obsidian and JupyterLab render Mermaid
from text, with no binary and no web service.  The flowchart shows what the Graphviz
drawing shows — the same nodes (fan-outs stacked), calls, numbers, statuses (as
``classDef`` colours), critical path (thick red), exogenous (dotted) and spawn
(dotted, labelled) edges — from the same :class:`~aiodag.viz.drawing.Drawing`.

Hostile text cannot change the syntax or the page: labels are quoted strings, which
Mermaid shows as HTML, and the characters that mean something there are written as
HTML's named entities — ``"`` (ends the string), ``<``, ``>``, ``&`` (HTML), ``#``
and ``;`` (Mermaid's own ``#code;`` escapes), ``:`` (Mermaid's style lines), a
backtick (Markdown strings) and ``%`` (comments).  Named, not numbered: Mermaid
rewrites anything shaped like ``#60;`` into its own escape codes, while named
entities reach the browser as they are, which shows them as the characters.  The
title goes in the YAML front matter as a JSON string (JSON is YAML).
"""

from __future__ import annotations

import json
from typing import Unpack

from ..events import TaskStatus
from . import style
from .drawing import Drawing, Edge, Node, build_drawing
from .model import RunLike, Snapshot
from .options import Options, VizOptions
from .text import clean, format_seconds, one_line, shorten

__all__ = ["mermaid_text", "to_mermaid"]

# Every character that means something in a quoted label, as its HTML5 named entity.
_ENTITIES = str.maketrans({
    '"': "&quot;", "<": "&lt;", ">": "&gt;", "&": "&amp;", "#": "&num;",
    ";": "&semi;", ":": "&colon;", "`": "&grave;", "%": "&percnt;",
})
_MAX_TITLE = 80


def to_mermaid(run: RunLike, **options: Unpack[VizOptions]) -> str:
    """The Mermaid flowchart of ``run`` (finished or still running), as text.

    Options are those of :func:`~aiodag.viz.to_graphviz` (``direction``, ``slack``,
    ``stack``, …).  Paste the text into a fenced ```` ```mermaid ```` block:

    >>> print(aiodag.viz.to_mermaid(run))
    ---
    title: "etl: 14 tasks, makespan 903ms"
    ---
    flowchart TB
      t1["fetch(#39;a1#39;)<br/><small>ran 101ms<br/>ended at 101ms</small>"]
      ...
    """
    opts = Options.from_kwargs(options)
    snap = Snapshot.of(run, critical_path=opts.critical_path, slack=opts.slack)
    return mermaid_of(build_drawing(snap, opts), opts)


def mermaid_of(drawing: Drawing, opts: Options) -> str:
    """The Mermaid text of a :class:`~aiodag.viz.drawing.Drawing`."""
    ids = {node.name: _node_id(node.name, i) for i, node in enumerate(drawing.nodes)}
    lines: list[str] = []
    if opts.title:
        lines += ["---", f"title: {json.dumps(_title(drawing), ensure_ascii=False)}", "---"]
    lines.append(f"flowchart {opts.direction}")
    for node in drawing.nodes:
        open_, close = ("[[", "]]") if node.kind == "stack" else ("[", "]")
        lines.append(f'  {ids[node.name]}{open_}"{_label(node)}"{close}')
    critical_links: list[int] = []
    spawn_links: list[int] = []
    for i, edge in enumerate(drawing.edges):
        lines.append(f"  {ids[edge.tail]} {_arrow(edge)} {ids[edge.head]}")
        if edge.critical:
            critical_links.append(i)
        elif edge.kind == "spawned":
            spawn_links.append(i)
    for status in style.STATUS_ORDER:
        members = [ids[n.name] for n in drawing.nodes if n.status is status]
        if members:
            dash = ",stroke-dasharray:4 3" if status is TaskStatus.PENDING else ""
            lines.append(
                f"  classDef {status} fill:{style.STATUS_FILL[status]},"
                f"stroke:{style.LINE_COLOR},color:#000{dash}"
            )
            lines.append(f"  class {','.join(members)} {status}")
    critical = [ids[n.name] for n in drawing.nodes if n.critical]
    if critical:
        lines.append(f"  classDef critical stroke:{style.CRITICAL_COLOR},stroke-width:3px")
        lines.append(f"  class {','.join(critical)} critical")
    if critical_links:
        lines.append(
            f"  linkStyle {','.join(map(str, critical_links))} "
            f"stroke:{style.CRITICAL_COLOR},stroke-width:3px"
        )
    if spawn_links:
        lines.append(f"  linkStyle {','.join(map(str, spawn_links))} stroke:{style.SPAWN_COLOR}")
    return "\n".join(lines)


def mermaid_text(text: str) -> str:
    """``text`` for a quoted Mermaid label, shown as written (see the module docstring)."""
    return clean(text).replace("\n", " ").translate(_ENTITIES)


def _node_id(name: str, index: int) -> str:
    # Task ids are integers: t7 reads as task 7.  Anything else gets a neutral id,
    # since Mermaid reserves words (end, graph, …) and reads "-" as part of arrows.
    return f"t{name}" if name.isdigit() else f"n{index}"


def _title(drawing: Drawing) -> str:
    snap = drawing.snap
    n = len(snap.tasks)
    makespan = format_seconds(snap.makespan)
    when = f"running, makespan {makespan} so far" if snap.running else f"makespan {makespan}"
    counts = ", ".join(
        f"{status} {snap.counts[status]:,}" for status in style.STATUS_ORDER if snap.counts[status]
    )
    name = one_line(shorten(snap.name, _MAX_TITLE))
    return f"{name}: {n:,} task{'s' if n != 1 else ''}, {when}{drawing.note} ({counts})"


def _label(node: Node) -> str:
    title = "<br/>".join(mermaid_text(line) for line in node.title)
    parts = [f"<b>{title}</b>" if node.kind != "task" else title]
    if node.error is not None:
        parts.append(f"<b>{mermaid_text(node.error)}</b>")
    if node.facts:
        parts.append("<small>" + "<br/>".join(mermaid_text(f) for f in node.facts) + "</small>")
    return "<br/>".join(parts)


def _arrow(edge: Edge) -> str:
    text = "spawned" if edge.kind == "spawned" else ""
    if edge.count > 1:
        text = f"{text} ×{edge.count:,}".strip()
    if edge.critical:
        arrow = "==>"
    elif edge.kind == "data":
        arrow = "-->"
    else:
        arrow = "-.->"
    return f'{arrow}|"{mermaid_text(text)}"|' if text else arrow
