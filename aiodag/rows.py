"""``TaskRows``: how a :class:`~aiodag.Run` keeps its tasks — one row each, in columns.

A run of a million tasks keeps a million records while it lives, and a finished run
keeps them for as long as the user holds it.  One Python object per task (with its
timestamps, its dependency tuples and its label parts as further objects) costs
~600 bytes each and, worse, is one more object for every pass of the garbage collector
over the heap.  So a run keeps its tasks as rows of a few flat columns (``array`` of
machine integers: no Python object per value, nothing for the collector to walk), and
builds a :class:`~aiodag.TaskRecord` — a view of one row — only when someone reads it.

The engine writes a row where the task's life happens: :mod:`aiodag.reporting` adds it
at the call and marks the start, :mod:`aiodag.ending` marks the end and the moment each
dependent became ready.  A handle knows its row by number (``_row``).

What most tasks leave out costs nothing: a label is kept only when it cannot be made
again from the row (a call whose arguments are not all upstream handles of this run);
dependencies other than plain data arguments, errors and execution-control facts live
in dictionaries keyed by row, for the few rows that have them.
"""

from __future__ import annotations

import operator
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .events import Dependency, DependencyKind, TaskStatus

if TYPE_CHECKING:
    from .controls import ControlFacts
    from .records import LabelParts

__all__ = ["NONE", "STATUSES", "STATUS_CODE", "TaskRows"]

NONE = -1
"""A timestamp or id not there (yet): ``None`` in a record (monotonic clocks and task ids
are never negative)."""

STATUSES: tuple[TaskStatus, ...] = tuple(TaskStatus)
STATUS_CODE: dict[TaskStatus, int] = {status: code for code, status in enumerate(STATUSES)}
RUNNING_CODE = STATUS_CODE[TaskStatus.RUNNING]


def value_of(stored: int) -> int | None:
    """A cell's value as a record gives it: ``None`` for NONE."""
    return None if stored == NONE else stored

# A row's cells, in order: where each is in the row's stride of ``cells``.
STATUS, CREATED, READY, STARTED, FINISHED, RELEASED, CALLER, DEP_END = range(8)
_DATA = DependencyKind.DATA
_BLANK_ROW = array("q", [STATUS_CODE[TaskStatus.PENDING], NONE, NONE, NONE, NONE, NONE, NONE, 0])
"""A new row before its values: pending, no times, no releaser, no caller."""
_new_tuple = tuple.__new__  # builds a Dependency without NamedTuple's Python-level __new__


class TaskRows:
    """The tasks of one run, as columns (see the module docstring).

    Rows are added in call order, so task ids (which only grow) are sorted: a task's row
    is found by bisection, with no index to keep.
    """

    __slots__ = (
        "by_id", "cells", "controls", "dep_ids", "deps", "discarded", "errors", "ids",
        "labels", "names", "start_ns",
    )

    def __init__(self) -> None:
        self.start_ns = 0
        """The run's start (monotonic ns): records count their seconds from it."""
        self.ids = array("q")  # (apart from the cells, to bisect)
        self.names: list[str] = []
        self.cells = array("q")
        """8 per row (added as a copy of a blank row): its STATUS_CODE; when it was
        created, ready, started and finished (ns); the upstream whose end released it;
        the task whose body called it; and DEP_END (below).  NONE where there is none
        (yet)."""
        self.dep_ids = array("q")
        """The data dependencies on handles of all rows, end to end: row i's are
        ``dep_ids[DEP_END of row i - 1:DEP_END of row i]``."""
        self.deps: dict[int, tuple[Dependency, ...]] = {}
        """Rows whose dependencies are not all data arguments (exogenous, ``outcome``):
        their whole list, instead of ``dep_ids``."""
        self.labels: dict[int, str | LabelParts] = {}
        """Rows whose label cannot be made from their name and dependencies."""
        self.errors: dict[int, BaseException] = {}
        self.controls: dict[int, ControlFacts] = {}
        self.by_id: dict[int, int] | None = None
        """Each id's row, once ids are out of order (else rows are found by bisection)."""
        self.discarded: set[int] = set()
        """Rows of tasks whose creation did not complete (a sink raised): not tasks."""

    def add(self, task_id: int, name: str, created_ns: int, ready: bool,
            caller_id: int | None, dep_ids: list[int] | None = None,
            deps: tuple[Dependency, ...] | None = None) -> int:
        """A new row, pending; returns its number.  ``dep_ids``: the data dependencies
        on handles (the common case); or ``deps``: every dependency, of any kind."""
        ids = self.ids
        row = len(ids)
        if row and task_id < ids[-1] and self.by_id is None:
            # Called while another call was being recorded (from an argument's repr, a
            # sink): ids are no longer in order, so lookups use an index from now on.
            self.by_id = {}
        ids.append(task_id)
        self.names.append(name)
        if dep_ids:
            self.dep_ids.extend(dep_ids)
        elif deps:
            for dep in deps:  # (a plain loop: no generator per call)
                if dep[1] is not _DATA:
                    self.deps[row] = deps
                    break
            else:
                self.dep_ids.extend([dep[0] for dep in deps])
        cells = self.cells
        at = len(cells)
        cells += _BLANK_ROW  # (an array adds in one copy; a tuple, item by item: ~5x slower)
        cells[at + CREATED] = created_ns
        if ready:
            cells[at + READY] = created_ns
        if caller_id is not None:
            cells[at + CALLER] = caller_id
        cells[at + DEP_END] = len(self.dep_ids)
        return row

    def row_of(self, task_id: object) -> int:
        """The row of the task with id ``task_id`` (``KeyError`` if it has none)."""
        try:
            key = operator.index(task_id)  # type: ignore[arg-type]  # (any integer: numpy's too)
        except TypeError:
            raise KeyError(task_id) from None
        ids = self.ids
        by_id = self.by_id
        if by_id is None:
            row = bisect_left(ids, key)
            found = row < len(ids) and ids[row] == key
        else:
            if len(by_id) != len(ids):
                by_id.update({ids[row]: row for row in range(len(by_id), len(ids))})
            row = by_id.get(key, -1)
            found = row >= 0
        if found and row not in self.discarded:
            return row
        raise KeyError(task_id)

    def __len__(self) -> int:
        return len(self.ids) - len(self.discarded)

    def rows(self) -> Iterator[int]:
        """Every task's row, in call order."""
        discarded = self.discarded
        if not discarded:
            return iter(range(len(self.ids)))
        return (row for row in range(len(self.ids)) if row not in discarded)

    def dependencies(self, row: int) -> tuple[Dependency, ...]:
        deps = self.deps.get(row)
        if deps is not None:
            return deps
        cells = self.cells
        first = cells[8 * row - 8 + DEP_END] if row else 0
        return tuple([_new_tuple(Dependency, (upstream, _DATA))
                      for upstream in self.dep_ids[first:cells[8 * row + DEP_END]]])

    def finished_max(self) -> int | None:
        """The latest end of a task (ns), if any has ended."""
        ends = self.cells[FINISHED::8]
        return value_of(max(ends, default=NONE))

    def count(self, status: TaskStatus) -> int:
        code = STATUS_CODE[status]
        cells = self.cells
        count = cells[STATUS::8].count(code)
        if self.discarded:
            count -= sum(1 for row in self.discarded if cells[8 * row + STATUS] == code)
        return count
