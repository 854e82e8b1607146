"""aiodag.viz: Graphviz drawings of pipeline runs, like the seed's PipelineDAG figure.

>>> import aiodag.viz
>>> async with aiodag.Run("etl") as run:
...     etl_pipeline()
>>> aiodag.viz.render(run, "pipeline.svg")           # or .png, .pdf, .dot
>>> aiodag.viz.to_graphviz(run, direction="LR")      # a graphviz.Digraph (shows in Jupyter)
>>> print(aiodag.viz.to_mermaid(run))                # Mermaid text, for Markdown
>>> aiodag.Run("etl", sinks=[aiodag.viz.LiveSVG("live.svg")])   # live.svg and live.html

Needs the ``graphviz`` package (``pip install aiodag[viz]``); rendering SVG, PNG or
PDF also needs Graphviz's ``dot`` binary, building the DOT source does not.
"""

from .graph import to_graphviz
from .live import LiveSVG
from .mermaid import to_mermaid
from .model import RunLike, TaskLike, compute_slack
from .options import Options, VizOptions
from .render import FORMATS, GraphvizNotFoundError, render

__all__ = [
    "FORMATS",
    "GraphvizNotFoundError",
    "LiveSVG",
    "Options",
    "RunLike",
    "TaskLike",
    "VizOptions",
    "compute_slack",
    "render",
    "to_graphviz",
    "to_mermaid",
]
