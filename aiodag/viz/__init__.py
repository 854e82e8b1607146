"""aiodag.viz: Graphviz drawings of pipeline runs, like the seed's PipelineDAG figure.

>>> import aiodag.viz
>>> async with aiodag.Run("etl") as run:
...     etl_pipeline()
>>> aiodag.viz.render(run, "pipeline.svg")           # or .png, .pdf, .dot
>>> aiodag.viz.to_graphviz(run, direction="LR")      # a graphviz.Digraph (shows in Jupyter)
>>> print(aiodag.viz.to_mermaid(run))                # Mermaid text, for Markdown
>>> aiodag.Run("etl", sinks=[aiodag.viz.LiveSVG("live.svg")])   # live.svg and live.html
>>> aiodag.viz.timeline(run, "timeline.svg")         # on a time axis (aiodag[timeline])
>>> aiodag.viz.render_diff(run_a, run_b, "diff.svg")  # what changed between two runs

Needs the ``graphviz`` package (``pip install aiodag[viz]``); rendering SVG, PNG or
PDF also needs Graphviz's ``dot`` binary, building the DOT source does not.
"""

from typing import TYPE_CHECKING, Any

from .graph import to_graphviz
from .live import LiveSVG
from .mermaid import to_mermaid
from .model import RunLike, TaskLike, compute_slack
from .options import Options, VizOptions
from .render import FORMATS, GraphvizNotFoundError, render
from .rundiff import RunDiff, compare, diff, render_diff

if TYPE_CHECKING:
    from .gantt import Timeline, timeline, to_timeline

__all__ = [
    "FORMATS",
    "GraphvizNotFoundError",
    "LiveSVG",
    "Options",
    "RunDiff",
    "RunLike",
    "TaskLike",
    "Timeline",
    "VizOptions",
    "compare",
    "compute_slack",
    "diff",
    "render",
    "render_diff",
    "timeline",
    "to_graphviz",
    "to_mermaid",
    "to_timeline",
]

_TIMELINE = ("Timeline", "timeline", "to_timeline")


def __getattr__(name: str) -> Any:
    # The timeline needs matplotlib (aiodag[timeline]): imported on first use only, so
    # the Graphviz drawings work without it.
    if name in _TIMELINE:
        try:
            from . import gantt
        except ImportError as exc:
            raise ImportError(
                f"aiodag.viz.{name} needs matplotlib ({exc}); install it with "
                "`pip install 'aiodag[timeline]'`"
            ) from exc
        return getattr(gantt, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
