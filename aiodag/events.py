"""The events the engine emits to sinks.

Every event is a small named tuple: immutable, typed, and the cheapest such object to
build (a frozen dataclass took ten times as long, which every task paid three times).
Timestamps are integers from :func:`time.monotonic_ns` (the clock asyncio's loop also
uses), so durations are exact and immune to wall-clock jumps.  To place events on the
calendar, each :class:`RunStarted` carries one wall-clock anchor (``wall_ns``, from
:func:`time.time_ns`, read together with its ``ts``); tasks outside any run use the
process-wide :data:`CLOCK_ANCHOR`.
:func:`to_wall_ns` converts with either anchor.

The order for one task is always::

    TaskCreated  ->  [TaskStarted]  ->  TaskFinished

A task with retries or a timeout (see :mod:`aiodag.controls`) also reports
:class:`AttemptFailed` for each attempt that failed, between its ``TaskStarted`` and its
``TaskFinished``.  ``TaskStarted`` is missing for a task that never ran (an upstream
failed or it was cancelled first).  ``TaskCreated`` is emitted in the *caller's*
context, at the moment of the call; ``TaskStarted`` is emitted inside the task's own
asyncio task, just before the function body, so a sink can set context variables (the
current OpenTelemetry span, say) that the body sees; ``TaskFinished`` in the task's
context too, when the engine settles the task's end (see :mod:`aiodag.ending`).
"""

from __future__ import annotations

import enum
import time
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .runs import Run

__all__ = [
    "CLOCK_ANCHOR",
    "Attempt",
    "AttemptFailed",
    "ClockAnchor",
    "Dependency",
    "DependencyKind",
    "Event",
    "LoopBlocked",
    "RunFinished",
    "RunStarted",
    "TaskCreated",
    "TaskFinished",
    "TaskStarted",
    "TaskStatus",
    "to_wall_ns",
]


class TaskStatus(enum.StrEnum):
    """Where a task is in its life.  Compares equal to its string value."""

    PENDING = "pending"
    """Called; waiting for its dependencies."""
    RUNNING = "running"
    """The function body is executing."""
    OK = "ok"
    """The body returned."""
    FAILED = "failed"
    """The body raised."""
    CANCELLED = "cancelled"
    """Cancelled, or an upstream was cancelled so it never ran."""
    UPSTREAM_FAILED = "upstream_failed"
    """Never ran because a dependency failed."""

    @property
    def is_terminal(self) -> bool:
        """True for the statuses a task ends in."""
        return self not in (TaskStatus.PENDING, TaskStatus.RUNNING)


class DependencyKind(enum.StrEnum):
    """How a task depends on an upstream task."""

    DATA = "data"
    """The upstream's result is passed to the task as (part of) an argument."""
    EXOGENOUS = "exogenous"
    """Given to ``task(fn, *deps)``: waited for, but its result is not passed."""


class Dependency(NamedTuple):
    """One edge of the DAG: ``upstream_id`` must finish before the dependent starts."""

    upstream_id: int
    kind: DependencyKind


class ClockAnchor(NamedTuple):
    """A monotonic reading and the wall-clock time read together with it."""

    mono_ns: int
    wall_ns: int

    @classmethod
    def now(cls) -> ClockAnchor:
        """Read both clocks."""
        return cls(time.monotonic_ns(), time.time_ns())


CLOCK_ANCHOR = ClockAnchor.now()
"""Process-wide anchor, for tasks that run outside any :class:`~aiodag.Run`."""


def to_wall_ns(ts: int, anchor: ClockAnchor = CLOCK_ANCHOR) -> int:
    """Convert an event timestamp to nanoseconds since the Unix epoch."""
    return anchor.wall_ns + (ts - anchor.mono_ns)


class RunStarted(NamedTuple):
    """A :class:`~aiodag.Run` block was entered."""

    run: Run
    ts: int
    wall_ns: int

    @property
    def anchor(self) -> ClockAnchor:
        """The run's clock anchor, for :func:`to_wall_ns`."""
        return ClockAnchor(self.ts, self.wall_ns)


class RunFinished(NamedTuple):
    """A run ended: all of its tasks are finished.  ``run`` holds the final records."""

    run: Run
    ts: int


class TaskCreated(NamedTuple):
    """A task was called: the dependency event.

    ``deps`` lists the aiodag tasks it waits for, each with its kind.  ``args`` and
    ``kwargs`` are shortened ``repr``s of the arguments (upstream tasks appear as
    ``name#id``); the values themselves are never kept.  ``caller_id`` is the id of the
    aiodag task whose body made the call (a task *spawned* by another), ``None`` for
    calls from plain code.
    """

    task_id: int
    name: str
    label: str
    run_id: int | None
    deps: tuple[Dependency, ...]
    args: tuple[str, ...]
    kwargs: tuple[tuple[str, str], ...]
    ts: int
    caller_id: int | None = None


class TaskStarted(NamedTuple):
    """All dependencies succeeded; the function body begins now.

    ``ready_ts`` is when it could have begun: when its last upstream finished (its call,
    if none was left to wait for), so ``ts - ready_ts`` is the time it waited for the
    event loop; ``released_by`` is that last upstream's id.  Both are known for tasks
    in a :class:`~aiodag.Run` (``None`` outside one).
    """

    task_id: int
    ts: int
    ready_ts: int | None = None
    released_by: int | None = None
    limit_wait_ns: int | None = None
    """Of ``ts - ready_ts``, the part spent waiting for a slot of a ``limit`` (the rest
    is the loop's); ``None`` when no limit applied."""


class TaskFinished(NamedTuple):
    """The task reached a terminal ``status``.

    ``error`` is the exception for ``failed`` (the body's own exception) and
    ``upstream_failed`` (an :class:`~aiodag.UpstreamError`); ``None`` otherwise.
    ``failed_upstream`` is the id of the dependency whose failure stopped the task.
    """

    task_id: int
    status: TaskStatus
    error: BaseException | None
    failed_upstream: int | None
    ts: int


class LoopBlocked(NamedTuple):
    """One step of a task held the event loop for ``duration_ns``: nothing else ran.

    Reported (to the task's sinks, and kept by its run in ``Run.loop_blocks``) when the
    loop is free again.  ``where`` is the code the step was in while it blocked
    (``file:line in function``), sampled from another thread; ``duration_ns`` is
    measured to within half the run's ``block_threshold``.  Only runs detect blocking
    (see :class:`~aiodag.Run`).
    """

    task_id: int
    name: str
    duration_ns: int
    where: str
    ts: int


class Attempt(NamedTuple):
    """One run of a task's body, of a task with retries or a timeout
    (:attr:`aiodag.TaskRecord.attempts`).  Timestamps as the events'."""

    number: int
    """1 for the first attempt, 2 for the first retry, ..."""
    started_ns: int
    finished_ns: int
    error: BaseException | None
    """What the attempt raised (``None``: it returned; an :class:`asyncio.CancelledError`:
    the task was cancelled while this attempt ran)."""
    timed_out: bool = False
    """It ran over the task's ``timeout`` (``error`` is then a :class:`TimeoutError`)."""


class AttemptFailed(NamedTuple):
    """An attempt of a task's body raised (or ran over its ``timeout``), or a retry was
    cancelled while it ran (``error`` is then the :class:`asyncio.CancelledError`).

    ``retry_in`` is the delay in seconds before the next attempt, ``None`` if there is
    none (the task ends ``failed`` with this ``error``, or ``cancelled``, reported by
    ``TaskFinished``).  Only tasks with ``retries`` or a ``timeout`` report attempts
    (see :mod:`aiodag.controls`).
    """

    task_id: int
    attempt: int
    error: BaseException
    started_ts: int
    ts: int
    timed_out: bool
    retry_in: float | None


Event = (
    RunStarted | RunFinished | TaskCreated | TaskStarted | TaskFinished | LoopBlocked
    | AttemptFailed
)
"""Any event a sink can receive."""
