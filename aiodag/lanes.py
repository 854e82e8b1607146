"""Lanes for a run on a time axis: which tasks can share a row without overlapping.

A timeline (:mod:`aiodag.viz`) draws one bar per task and a Perfetto trace
(:mod:`aiodag.trace.perfetto`) one slice per task; both need rows ("lanes", "threads")
in which no two tasks overlap — Chrome's trace format even requires slices on one
thread to nest properly.  Packing them greedily by start time uses as few lanes as the
run ever had tasks running at once (interval partitioning), and reusing the lowest free
lane keeps the picture compact at the top.  Both drawings group tasks by name first,
so each name gets its own band of lanes.

It lives beside the engine's other analysis of recorded runs because ``aiodag.trace``
and ``aiodag.viz`` never import each other, and both need it.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Sequence
from typing import NamedTuple

__all__ = ["Lanes", "pack_lanes", "pack_lanes_by_group"]


def pack_lanes(intervals: Sequence[tuple[float, float]]) -> tuple[list[int], int]:
    """A lane for each ``(start, end)`` interval, and the number of lanes used.

    Intervals in one lane never overlap (one may start exactly when the previous
    ends; an interval of no length still takes its instant, so two at the same
    moment get two lanes).  The count is the minimum possible: the most intervals
    open at once.
    """
    order = sorted(range(len(intervals)), key=lambda i: intervals[i])
    lane_of = [0] * len(intervals)
    busy: list[tuple[float, int]] = []  # (end, lane) of lanes in use
    free: list[int] = []  # lanes free again, lowest first
    used = 0
    for i in order:
        start, end = intervals[i]
        while busy and busy[0][0] <= start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            lane = heapq.heappop(free)
        else:
            lane, used = used, used + 1
        lane_of[i] = lane
        heapq.heappush(busy, (end if end > start else math.nextafter(start, math.inf), lane))
    return lane_of, used


class Lanes(NamedTuple):
    """Lanes packed per group: each item's row, and each group's rows."""

    row: list[int]
    """The row of each item, counted from the top (0) over all groups."""
    groups: list[tuple[Hashable, int, int]]
    """``(group, first_row, rows)`` for each group, in order of first appearance."""

    @property
    def rows(self) -> int:
        """The number of rows in all."""
        return sum(count for _group, _first, count in self.groups)


def pack_lanes_by_group(
    intervals: Sequence[tuple[float, float]], groups: Sequence[Hashable]
) -> Lanes:
    """Lanes packed within each group (``groups[i]`` is item ``i``'s), groups stacked.

    Groups come in the order they first appear, so a run's task names stay in call
    order; a group takes at least one row.
    """
    members: dict[Hashable, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    row = [0] * len(intervals)
    placed: list[tuple[Hashable, int, int]] = []
    first = 0
    for group, items in members.items():
        lanes, used = pack_lanes([intervals[i] for i in items])
        for i, lane in zip(items, lanes, strict=True):
            row[i] = first + lane
        used = max(used, 1)
        placed.append((group, first, used))
        first += used
    return Lanes(row, placed)
