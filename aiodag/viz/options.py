"""The drawing options shared by ``to_graphviz``, ``render`` and ``LiveSVG``, validated once."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

__all__ = ["DIRECTIONS", "Options", "VizOptions"]

Direction = Literal["TB", "LR", "BT", "RL"]
DIRECTIONS: tuple[Direction, ...] = ("TB", "LR", "BT", "RL")
"""Graphviz ``rankdir`` values: top-down (as the seed's figure), left-right, and reversed."""


class VizOptions(TypedDict, total=False):
    """Keyword options of :func:`~aiodag.viz.to_graphviz` (all optional; see Options)."""

    direction: Direction
    critical_path: bool
    slack: bool
    timings: bool
    title: bool
    legend: bool
    max_label: int
    wrap: int
    aggregate: bool | None
    max_nodes: int
    stack: int


@dataclass(frozen=True, slots=True)
class Options:
    """How to draw a run.

    * ``direction`` — ``"LR"`` left to right (default: time runs left to right, as in
      a trace's timeline, and a wide DAG grows down the page, where it scrolls,
      rather than across it, where it shrinks), ``"TB"`` top-down as the seed's
      figure, or ``"RL"``/``"BT"``.
    * ``critical_path`` — make the critical path's nodes and edges stand out (default
      True; drawn once the run has finished).
    * ``slack`` — show each finished task's slack: how much later it could have
      finished without delaying the run (default False).
    * ``timings`` — beside each node, its duration and when it finished, counted from
      the run's start (default True).
    * ``title`` — a title with the run's name, task count and makespan (default True).
    * ``legend`` — the status colours with their counts, and the edge styles (default
      True).
    * ``max_label`` — labels longer than this many characters are cut with ``…``
      (default 60); ``wrap`` — label lines are at most this long (default 20).
    * ``aggregate`` — draw one node per task *name* instead of one per task: ``None``
      (default) does so when the run has more than ``max_nodes`` tasks (default 500).
    * ``stack`` — draw at least this many sibling calls (same name, same caller, their
      inputs and outputs siblings too: a fan-out) as one stacked node, ``fetch ×50``
      (default 5); ``0`` draws one node per call.
    """

    direction: Direction = "LR"
    critical_path: bool = True
    slack: bool = False
    timings: bool = True
    title: bool = True
    legend: bool = True
    max_label: int = 60
    wrap: int = 20
    aggregate: bool | None = None
    max_nodes: int = 500
    stack: int = 5

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(
                f"unknown direction: {self.direction!r} (must be one of {list(DIRECTIONS)})"
            )
        for name in ("critical_path", "slack", "timings", "title", "legend"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, got {value!r}")
        if self.aggregate is not None and not isinstance(self.aggregate, bool):
            raise TypeError(
                f"aggregate must be True, False or None (automatic), got {self.aggregate!r}"
            )
        for name, low in (("max_label", 2), ("wrap", 4), ("max_nodes", 0), ("stack", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")

    @classmethod
    def from_kwargs(cls, options: Mapping[str, Any]) -> Options:
        """Options from keyword arguments, rejecting unknown names (listing the valid ones)."""
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise TypeError(
                f"unknown option{'s' if len(unknown) > 1 else ''}: "
                f"{', '.join(map(repr, unknown))} (must be among {names})"
            )
        return cls(**options)

    def use_aggregate(self, n_tasks: int) -> bool:
        """Whether a run of ``n_tasks`` tasks is drawn aggregated by task name."""
        if self.aggregate is None:
            return n_tasks > self.max_nodes
        return self.aggregate
