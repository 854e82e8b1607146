"""``TaskRecord``: what a :class:`~aiodag.Run` shows of each of its tasks.

A record gives the task's name, its label (built from the call's argument reprs only
when read), its dependencies, status, error and the timestamps of its life; never its
arguments or its result.  It is a read-only view of the task's row in its run
(:mod:`aiodag.rows`), which the engine writes as the task goes (see
:mod:`aiodag.reporting` and :mod:`aiodag.ending`); everything else reads it.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .errors import is_handled
from .events import Dependency, TaskStatus
from .labels import format_call
from .rows import (
    CALLER,
    CREATED,
    DEP_END,
    FINISHED,
    READY,
    RELEASED,
    STARTED,
    STATUS,
    STATUSES,
    TaskRows,
    value_of,
)

if TYPE_CHECKING:
    from .controls import ControlFacts
    from .events import Attempt

__all__ = ["LabelParts", "RecordMap", "TaskRecord"]


class TaskRecord:
    """What a :class:`Run` keeps of one task: never its arguments or its result.

    ``created``, ``started`` and ``finished`` are seconds since the run began, ``None``
    where the task has not got there; the ``*_ns`` fields are the raw event timestamps.
    A record is a read-only view of the task's row in its run (see :mod:`aiodag.rows`):
    it reads the run's latest, and keeps the run's rows alive while it is held.
    """

    __slots__ = ("_row", "_rows")

    def __init__(self, rows: TaskRows, row: int) -> None:
        self._rows = rows
        self._row = row

    @property
    def id(self) -> int:
        """The task's id (as its handle's)."""
        return self._rows.ids[self._row]

    @property
    def name(self) -> str:
        """The task's name."""
        return self._rows.names[self._row]

    @property
    def status(self) -> TaskStatus:
        """Where the task is (as of the run's latest)."""
        return STATUSES[self._rows.cells[8 * self._row + STATUS]]

    @property
    def deps(self) -> tuple[Dependency, ...]:
        """The upstream tasks as ``(upstream_id, kind)`` pairs."""
        return self._rows.dependencies(self._row)

    @property
    def error(self) -> BaseException | None:
        """The exception of a ``failed`` or ``upstream_failed`` task."""
        return self._rows.errors.get(self._row)

    @property
    def caller_id(self) -> int | None:
        """The id of the task whose body called this one (``None``: called from plain code)."""
        return value_of(self._rows.cells[8 * self._row + CALLER])

    @property
    def released_by(self) -> int | None:
        """The upstream whose end made it ready: its *last arrival* (``None``: ready at
        the call, or released by a plain asyncio future)."""
        return value_of(self._rows.cells[8 * self._row + RELEASED])

    @property
    def created_ns(self) -> int:
        return self._rows.cells[8 * self._row + CREATED]

    @property
    def ready_ns(self) -> int | None:
        """When its last upstream finished (its call, if none was left to wait for);
        ``None`` while it still waits for one, or if one failed or was cancelled."""
        return value_of(self._rows.cells[8 * self._row + READY])

    @property
    def started_ns(self) -> int | None:
        return value_of(self._rows.cells[8 * self._row + STARTED])

    @property
    def finished_ns(self) -> int | None:
        return value_of(self._rows.cells[8 * self._row + FINISHED])

    @property
    def run_start_ns(self) -> int:
        """The run's start (monotonic ns), from which the seconds count."""
        return self._rows.start_ns

    @property
    def label(self) -> str:
        """The call, short and readable: ``fetch('a1')``, ``merge(fetch#3, fetch#4)``."""
        rows, row = self._rows, self._row
        label = rows.labels.get(row)
        if isinstance(label, str):
            return label
        if label is None:
            # Every argument was an upstream handle of the run, in order: its name#id.
            args = tuple([self._ref(dep.upstream_id) for dep in rows.dependencies(row)])
            kwargs: tuple[tuple[str, str], ...] = ()
        else:
            # Built on first use from the reprs taken at the call (see reporting.py).
            parts, kwparts = label
            args = tuple([self._part_text(part) for part in parts])
            kwargs = tuple([(key, self._part_text(part)) for key, part in kwparts])
        rows.labels[row] = text = format_call(self.name, args, kwargs)
        return text

    def _ref(self, upstream_id: int) -> str:
        rows = self._rows
        try:
            return f"{rows.names[rows.row_of(upstream_id)]}#{upstream_id}"
        except KeyError:
            return f"#{upstream_id}"

    def _part_text(self, part: str | int) -> str:
        return part if isinstance(part, str) else self._ref(part)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (or copied) alone: the task's own facts, not its whole run.
        rows, row = self._rows, self._row
        return (_detached, (
            self.id, self.name, self.label, self.deps, rows.cells[8 * row:8 * row + 8].tolist(),
            rows.start_ns, self.error, rows.controls.get(row),
        ))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskRecord):
            return NotImplemented
        return self._rows is other._rows and self._row == other._row

    def __hash__(self) -> int:
        return hash((id(self._rows), self._row))

    @property
    def created(self) -> float:
        """When the task was called, in seconds since the run began."""
        return (self.created_ns - self.run_start_ns) / 1e9

    @property
    def started(self) -> float | None:
        """When the body began, in seconds since the run began."""
        ts = self.started_ns
        return None if ts is None else (ts - self.run_start_ns) / 1e9

    @property
    def finished(self) -> float | None:
        """When the task ended, in seconds since the run began."""
        ts = self.finished_ns
        return None if ts is None else (ts - self.run_start_ns) / 1e9

    @property
    def duration(self) -> float | None:
        """Seconds the body ran (``None`` if it never ran or is still running)."""
        if self.started_ns is None or self.finished_ns is None:
            return None
        return (self.finished_ns - self.started_ns) / 1e9

    @property
    def ready(self) -> float | None:
        """When it could start (its last upstream had finished), in seconds since the run
        began; ``None`` while it still waits."""
        ts = self.ready_ns
        return None if ts is None else (ts - self.run_start_ns) / 1e9

    @property
    def dependency_wait(self) -> float | None:
        """Seconds from the call until its last upstream finished; ``None`` while it
        still waits (or if an upstream failed or was cancelled, so it never became
        ready)."""
        ts = self.ready_ns
        return None if ts is None else (ts - self.created_ns) / 1e9

    @property
    def loop_wait(self) -> float | None:
        """Seconds it was ready but not yet running: the loop was busy with other steps
        (or blocked); a wait for a slot of a limit is not counted (``limit_wait``).
        ``None`` if it never started."""
        if self.started_ns is None or self.ready_ns is None:
            return None
        waited = (self.started_ns - self.ready_ns) / 1e9
        limit_wait = self.limit_wait  # seam: issue 13
        return waited if limit_wait is None else max(0.0, waited - limit_wait)

    @property
    def handled(self) -> bool:
        """True for a failure that code received and dealt with (see ``Run``).

        It stays ``failed`` in the record, the trace and the drawing, but does not fail
        the run.
        """
        return self.status is TaskStatus.FAILED and self.error is not None and is_handled(
            self.error
        )

    # seam: issue 13 -- what the execution controls recorded (controls.py)
    @property
    def attempts(self) -> tuple[Attempt, ...]:
        """Each run of the body, in order, for a task with ``retries`` or a ``timeout``
        (empty for other tasks, and before the first attempt ends)."""
        facts = self._rows.controls.get(self._row)
        return () if facts is None else facts.attempts

    @property
    def timed_out(self) -> bool:
        """True for a ``failed`` task whose last attempt ran over its ``timeout``."""
        attempts = self.attempts
        return self.status is TaskStatus.FAILED and bool(attempts) and attempts[-1].timed_out

    @property
    def limit_wait(self) -> float | None:
        """Seconds it was ready but waited for a slot of a ``limit`` (its task's or its
        run's); ``None`` if no limit applied to it (or it has not got a slot yet)."""
        facts = self._rows.controls.get(self._row)
        ns = None if facts is None else facts.limit_wait_ns
        return None if ns is None else ns / 1e9

    @property
    def wait(self) -> float | None:
        """Seconds between the call and the start of the body."""
        return None if self.started_ns is None else (self.started_ns - self.created_ns) / 1e9

    def __repr__(self) -> str:
        return f"<TaskRecord #{self.id} {self.label} {self.status}>"


LabelParts = tuple[tuple["str | int", ...], tuple[tuple[str, "str | int"], ...]]
"""A label not yet built: argument reprs, with upstreams of the run as their task ids."""


def _detached(task_id: int, name: str, label: str, deps: tuple[Dependency, ...],
              cells: list[int], start_ns: int, error: BaseException | None,
              controls: ControlFacts | None) -> TaskRecord:
    """A record on a run of its own (one row): what unpickles from a record."""
    rows = TaskRows()
    rows.start_ns = start_ns
    rows.add(task_id, name, cells[CREATED], True, None, None, deps)
    cells[DEP_END] = rows.cells[DEP_END]  # (its dependencies' end in the new row)
    rows.cells[0:8] = array("q", cells)
    rows.labels[0] = label
    if error is not None:
        rows.errors[0] = error
    if controls is not None:
        rows.controls[0] = controls
    return TaskRecord(rows, 0)




class RecordMap(Mapping[int, TaskRecord]):
    """A run's records by task id, made as they are read (for :mod:`aiodag.analysis`)."""

    __slots__ = ("_rows",)

    def __init__(self, rows: TaskRows) -> None:
        self._rows = rows

    def __getitem__(self, task_id: int) -> TaskRecord:
        rows = self._rows
        return TaskRecord(rows, rows.row_of(task_id))

    def __contains__(self, task_id: object) -> bool:
        try:
            self._rows.row_of(task_id)
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[int]:
        ids = self._rows.ids
        return (ids[row] for row in self._rows.rows())

    def __len__(self) -> int:
        return len(self._rows)

    def values(self) -> Any:
        rows = self._rows
        return [TaskRecord(rows, row) for row in rows.rows()]
