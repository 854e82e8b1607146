"""The options of :func:`~aiodag.viz.timeline`, validated once, before anything is drawn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict

__all__ = ["Arrows", "Layout", "TimelineOptions"]

Arrows = Literal["all", "critical", "none"]
"""Which dependency arrows a timeline draws."""


class TimelineOptions(TypedDict, total=False):
    """Keyword options of :func:`to_timeline` and :func:`timeline` (see :class:`Layout`)."""

    group: Literal["name"] | None
    critical_path: bool
    arrows: Arrows | None
    max_arrows: int
    aggregate: bool | None
    max_bars: int
    waits: bool
    labels: bool
    title: bool
    legend: bool
    width: float


@dataclass(frozen=True, slots=True)
class Layout:
    """How to draw a timeline.

    * ``group`` — ``"name"`` (default): one band of lanes per task name, labelled
      with it; ``None``: all tasks packed into one set of lanes.
    * ``critical_path`` — outline the critical path's bars and draw its arrows in red.
    * ``arrows`` — ``"all"``, ``"critical"`` (only along the critical path), ``"none"``;
      ``None`` (default): all, unless the run has more than ``max_arrows`` (400)
      dependencies, then the critical path's only (the title says how many are left out).
    * ``aggregate`` — ``None`` (default): one bar per task up to ``max_bars`` (2,000)
      tasks, above that each name's band shows how many of its tasks ran at each moment.
    * ``waits`` — a thin line before each bar from the task's call to its start, split
      at ``ready`` (when its last upstream finished) where the record has it.
    * ``labels`` — write each task's call in its bar where it fits; ``title``, ``legend``.
    * ``width`` — of the figure, in inches (the height follows the lanes).
    """

    group: Literal["name"] | None = "name"
    critical_path: bool = True
    arrows: Arrows | None = None
    max_arrows: int = 400
    aggregate: bool | None = None
    max_bars: int = 2000
    waits: bool = False
    labels: bool = True
    title: bool = True
    legend: bool = True
    width: float = 12.0

    def __post_init__(self) -> None:
        if self.group not in ("name", None):
            raise ValueError(f"unknown group: {self.group!r} (must be 'name' or None)")
        if self.arrows not in ("all", "critical", "none", None):
            raise ValueError(
                f"unknown arrows: {self.arrows!r} (must be 'all', 'critical', 'none' or None)"
            )
        for name in ("critical_path", "waits", "labels", "title", "legend"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.aggregate is not None and not isinstance(self.aggregate, bool):
            raise TypeError(f"aggregate must be True, False or None, got {self.aggregate!r}")
        for name in ("max_arrows", "max_bars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if not isinstance(self.width, int | float) or not 2 <= self.width <= 100:
            raise ValueError(f"width must be a number of inches from 2 to 100, got {self.width!r}")

    @classmethod
    def from_kwargs(cls, options: dict[str, Any]) -> Layout:
        """Options from keyword arguments, rejecting unknown names (listing the valid ones)."""
        names = list(cls.__dataclass_fields__)
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise TypeError(
                f"unknown timeline option{'s' if len(unknown) > 1 else ''}: "
                f"{', '.join(map(repr, unknown))} (must be among {names})"
            )
        return cls(**options)
