"""``to_graphviz``: a run as a :class:`graphviz.Digraph`.

Building the graph needs no Graphviz binary: it is DOT text (``graph.source``).
The node of a task is named ``str(task.id)`` (a stack of sibling calls ``s<id>``, a
task name in the aggregated drawing ``g<n>``), so SVG elements (whose ``<title>`` is
the node name) and tools reading the DOT map back to the run's tasks.

Each node's text is one HTML-like label — the call on top, its numbers below — so
no number can be read as another node's; nodes of the same task name are drawn the
same size, from an estimate of their longest line.
"""

from __future__ import annotations

from typing import Unpack

import graphviz

from . import style
from .drawing import Drawing, Node, build_drawing
from .model import RunLike, Snapshot
from .options import Options, VizOptions
from .text import esc_string, html_lines

__all__ = ["graphviz_of", "to_graphviz"]

# Font sizes (points) of the node's lines, and generous average character widths (as
# a fraction of the size) for estimating a node's size: Helvetica's average is about
# 0.5; over-estimating keeps all nodes of one name the size of the largest.
TITLE_PT, ERROR_PT, FACT_PT = 11, 10, 9
_CHAR_EM = 0.58
_LINE = 1.22
_MARGIN_X, _MARGIN_Y = 0.1, 0.05


def to_graphviz(run: RunLike, **options: Unpack[VizOptions]) -> graphviz.Digraph:
    """Draw ``run`` (finished or still running) as a :class:`graphviz.Digraph`.

    One node per task, its call on top and its numbers (how long it ran, when it
    ended) below; arrows from each upstream to its dependents (dotted for exogenous
    dependencies, dashed purple from a task to the tasks its body called); colours
    by status; the critical path stands out.  Wide fan-outs are drawn as stacked
    nodes (``fetch ×50``); a run of more than ``max_nodes`` tasks, one node per task
    name.  See :class:`~aiodag.viz.options.Options` for every option.  The result
    shows inline in Jupyter; ``.source`` is the DOT text; :func:`~aiodag.viz.render`
    writes files.

    >>> graph = aiodag.viz.to_graphviz(run, direction="LR", slack=True)
    """
    opts = Options.from_kwargs(options)
    snap = Snapshot.of(run, critical_path=opts.critical_path, slack=opts.slack)
    return graphviz_of(build_drawing(snap, opts), opts)


def graphviz_of(drawing: Drawing, opts: Options) -> graphviz.Digraph:
    """The Digraph of a :class:`~aiodag.viz.drawing.Drawing`."""
    graph = style.new_digraph(drawing, opts)
    sizes = _sizes(drawing.nodes)
    # Nodes with nothing coming in start the drawing, in the order they were called
    # (invisible edges keep that order within their rank): branches a, b, c come in
    # the order written — top to bottom (LR), left to right (TB, as the seed's figure).
    if len(drawing.sources) > 1:
        with graph.subgraph() as first:
            first.attr(rank="source")
            for name in drawing.sources:
                first.node(name)
            for left, right in zip(drawing.sources, drawing.sources[1:], strict=False):
                first.edge(left, right, style="invis")
    for node in drawing.nodes:
        attrs = style.node_style(node.status, critical=node.critical,
                                 stack=node.kind == "stack")
        attrs["tooltip"] = esc_string(node.tooltip)
        width, height = sizes[node.size_key]
        attrs.update(width=f"{width:.2f}", height=f"{height:.2f}")
        graph.node(node.name, label=_label(node), **attrs)
    for edge in drawing.edges:
        attrs = style.edge_style(edge.kind, critical=edge.critical)
        if edge.count > 1:
            attrs["label"] = f"×{edge.count:,}"
        graph.edge(edge.tail, edge.head, **attrs)
    return graph


def _label(node: Node) -> str:
    """The call on top, then the error type, then the numbers, a little apart."""
    title = html_lines(node.title)
    if node.kind != "task":
        title = f"<B>{title}</B>"
    rows = [title]
    if node.error is not None:
        error = html_lines([node.error])
        rows.append(
            f'<FONT POINT-SIZE="{ERROR_PT}" COLOR="{style.ERROR_COLOR}"><B>{error}</B></FONT>'
        )
    if node.facts:
        facts = html_lines(node.facts)
        rows.append(f'<FONT POINT-SIZE="{FACT_PT}" COLOR="{style.TEXT_GREY}">{facts}</FONT>')
    cells = "".join(f"<TR><TD>{row}</TD></TR>" for row in rows)
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{cells}</TABLE>>'


def _sizes(nodes: list[Node]) -> dict[str, tuple[float, float]]:
    """Width and height in inches per size key: the largest estimate among its nodes."""
    sizes: dict[str, tuple[float, float]] = {}
    for node in nodes:
        lines = [(TITLE_PT, line) for line in node.title]
        if node.error is not None:
            lines.append((ERROR_PT, node.error))
        lines += [(FACT_PT, line) for line in node.facts]
        width = max((pt * _CHAR_EM * len(text) for pt, text in lines), default=0.0) / 72
        height = sum(pt * _LINE for pt, _text in lines) / 72
        width, height = width + 2 * _MARGIN_X + 0.1, height + 2 * _MARGIN_Y + 0.08
        old = sizes.get(node.size_key, (0.0, 0.0))
        sizes[node.size_key] = (max(old[0], width, 0.75), max(old[1], height, 0.5))
    return sizes
