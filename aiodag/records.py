"""``TaskRecord``: what a :class:`~aiodag.Run` keeps of each of its tasks.

A record holds the task's name, its label (built from the call's argument reprs only
when read), its dependencies, status, error and the timestamps of its life; never its
arguments or its result.  The engine writes it as the task goes (see
:mod:`aiodag.reporting` and :mod:`aiodag.ending`); everything else reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import is_handled
from .events import Dependency, TaskStatus
from .labels import format_call

if TYPE_CHECKING:
    from .controls import ControlFacts
    from .events import Attempt

__all__ = ["LabelParts", "TaskRecord"]


class TaskRecord:
    """What a :class:`Run` keeps of one task: never its arguments or its result.

    ``created``, ``started`` and ``finished`` are seconds since the run began, ``None``
    where the task has not got there; the ``*_ns`` fields are the raw event timestamps.
    """

    __slots__ = (
        "_controls",  # seam: issue 13 (set only for tasks under controls: controls.py)
        "_label",
        "caller_id",
        "created_ns",
        "deps",
        "error",
        "finished_ns",
        "id",
        "name",
        "ready_ns",
        "released_by",
        "run_start_ns",
        "started_ns",
        "status",
    )
    _controls: ControlFacts  # (a slot, unset for tasks without retries, timeout or limit)

    def __init__(
        self,
        id: int,
        name: str,
        label: str | LabelParts,
        deps: tuple[Dependency, ...],
        created_ns: int,
        run_start_ns: int,
        caller_id: int | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self._label = label
        self.deps = deps
        """The upstream tasks as ``(upstream_id, kind)`` pairs."""
        self.status = TaskStatus.PENDING
        self.error: BaseException | None = None
        """The exception of a ``failed`` or ``upstream_failed`` task."""
        self.created_ns = created_ns
        self.started_ns: int | None = None
        self.finished_ns: int | None = None
        self.run_start_ns = run_start_ns
        self.ready_ns: int | None = created_ns
        """When its last upstream finished (its call, if none was left to wait for);
        ``None`` while it still waits for one, or if one failed or was cancelled."""
        self.released_by: int | None = None
        """The upstream whose end made it ready: its *last arrival* (``None``: ready at
        the call, or released by a plain asyncio future)."""
        self.caller_id = caller_id
        """The id of the task whose body called this one (``None``: called from plain code)."""

    @property
    def label(self) -> str:
        """The call, short and readable: ``fetch('a1')``, ``merge(fetch#3, fetch#4)``."""
        label = self._label
        if isinstance(label, str):
            return label
        # Built on first use from the reprs taken at the call (see handle.py).
        parts, kwparts = label
        args = tuple([_part_text(part) for part in parts])
        kwargs = tuple([(key, _part_text(part)) for key, part in kwparts])
        self._label = text = format_call(self.name, args, kwargs)
        return text

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
        facts: ControlFacts | None = getattr(self, "_controls", None)
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
        facts: ControlFacts | None = getattr(self, "_controls", None)
        ns = None if facts is None else facts.limit_wait_ns
        return None if ns is None else ns / 1e9

    @property
    def wait(self) -> float | None:
        """Seconds between the call and the start of the body."""
        return None if self.started_ns is None else (self.started_ns - self.created_ns) / 1e9

    def __repr__(self) -> str:
        return f"<TaskRecord #{self.id} {self.label} {self.status}>"


LabelParts = tuple[tuple["str | TaskRecord", ...], tuple[tuple[str, "str | TaskRecord"], ...]]
"""A label not yet built: argument reprs, with upstreams of the run as their records."""


def _part_text(part: str | TaskRecord) -> str:
    return part if isinstance(part, str) else f"{part.name}#{part.id}"


