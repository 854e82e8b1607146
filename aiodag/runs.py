"""``Run``: the scope of one pipeline run, and the compact record of its DAG.

::

    async with aiodag.Run("etl", sinks=[...]) as run:
        upload(merge(fetch("a"), fetch("b")))
    print(run.makespan, [t.label for t in run.critical_path()])

Every task called inside the block — and every task those tasks call, since the run
travels in a context variable that asyncio copies into each task — belongs to the run;
the innermost run wins.  Leaving the block waits for all of them, and then, as
:class:`asyncio.TaskGroup` does, raises an :class:`ExceptionGroup` of the failures.
Unlike a TaskGroup, a failing task does not cancel its siblings: only its dependents
are skipped, and independent branches run to the end.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import time
from collections.abc import Iterable
from contextvars import ContextVar, Token
from typing import Any, cast

from . import runfailures
from .analysis import WaitBreakdown, critical_path, wait_breakdown
from .blocking import LoopWatch, unwatch_loop, watch_loop
from .errors import (
    is_handled,
    log_failure,
)
from .events import (
    ClockAnchor,
    LoopBlocked,
    RunFinished,
    RunStarted,
    TaskStatus,
)
from .failfast import absorb_stop, check_fail_fast  # seam: issue 13
from .keepalive import alive_handles
from .options import run_limit  # seam: issue 13
from .records import RecordMap, TaskRecord
from .remote import SubmitsCalls, check_executor  # seam: issue 14
from .rows import TaskRows
from .runfailures import block_ended, raise_failures
from .sinks import SinkSlot, emit, global_slots, make_slots
from .typing import Sink

__all__ = ["Run", "TaskRecord"]

_current_run: ContextVar[Run | None] = ContextVar("aiodag.run", default=None)
_run_ids = itertools.count(1)


class _State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSING = "closing"
    FINISHED = "finished"


class Run:
    """One pipeline run: a scope for its tasks, their sinks, and the record of the DAG.

    ``sinks`` see this run's tasks; ``raise_errors=False`` ends the block quietly even
    if tasks failed (``failures`` lists them); ``block_threshold`` (seconds, or ``None``)
    reports steps that hold the event loop.  Execution controls (see
    :mod:`aiodag.controls`): ``limit=N`` runs at most N bodies of the run's tasks at
    once (the others wait, ``pending``, for a slot); ``fail_fast=True`` makes the first
    failure cancel the rest of the run, as :class:`asyncio.TaskGroup` does.

    >>> async with aiodag.Run("crawl", limit=8, fail_fast=True) as run:
    ...     store(fetch("a"))
    """

    def __init__(
        self,
        name: str = "run",
        *,
        sinks: Iterable[Sink] = (),
        raise_errors: bool = True,
        block_threshold: float | None = 0.1,
        limit: int | None = None,
        fail_fast: bool = False,
        executor: SubmitsCalls | None = None,  # seam: issue 14
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"Run name must be a non-empty string, got {name!r}")
        self.executor = check_executor(executor, "Run")  # seam: issue 14
        """Where the run's plain (``def``) tasks run unless ``task(fn, executor=)`` says
        otherwise (``None``: the loop's default thread pool); e.g. a Dask client."""
        if block_threshold is not None and (
            isinstance(block_threshold, bool)
            or not isinstance(block_threshold, int | float)
            or not 0.001 <= block_threshold < float("inf")
        ):
            raise ValueError(
                f"Run block_threshold must be a number of seconds (0.001 or more) or None, "
                f"got {block_threshold!r}; e.g. 0.1 reports steps that hold the loop 100 ms"
            )
        self.block_threshold = block_threshold
        # seam: issue 13 -- execution controls of the whole run (options.py, failfast.py)
        self._limit = run_limit(limit)
        """At most this many bodies of the run's tasks at once (``None``: no limit)."""
        self.fail_fast = check_fail_fast(fail_fast)
        """The first failure of a task cancels the rest of the run (see failfast.py)."""
        self._stopped_by: str | None = None
        self._owner_cancelled = False
        self.loop_blocks: list[LoopBlocked] = []
        """Every step of the run's tasks that held the event loop for
        ``block_threshold`` seconds or more, in order (see :mod:`aiodag.blocking`)."""
        self._watch: LoopWatch | None = None
        self._owner: asyncio.Task[Any] | None = None  # the task running the block
        self.cancelled = False
        """True once the run ended because the code waiting in it was cancelled (a
        timeout, Ctrl-C, SIGTERM in the ``aiodag`` command): its tasks were cancelled."""
        self._received: list[BaseException] = []  # failures the block received
        self.name = name
        self.id = next(_run_ids)
        self.raise_errors = raise_errors
        self._own_slots = make_slots(sinks)
        self._slots: tuple[SinkSlot, ...] = ()
        self._state = _State.NEW
        self._rows = TaskRows()  # the record of its tasks (see aiodag.rows)
        self._unfinished = 0
        # The run's failure candidates by id: its tasks' own failures, and failures from
        # outside the run that reached its tasks.  Those handled are left out at the end.
        self._failures: dict[int, BaseException] = {}
        self._idle: asyncio.Future[None] | None = None
        self._token: Token[Run | None] | None = None
        self.anchor = ClockAnchor(0, 0)
        """Monotonic and wall-clock readings taken when the run began."""
        self._end_ns: int | None = None
        self._closed = False  # read on the engine's hot path; True once FINISHED

    @staticmethod
    def current() -> Run | None:
        """The innermost run the calling code is in, if any."""
        return _current_run.get()

    # -- the record -----------------------------------------------------------------

    @property
    def tasks(self) -> list[TaskRecord]:
        """One record per task, in the order they were called (a new list each time)."""
        rows = self._rows
        return [TaskRecord(rows, row) for row in rows.rows()]

    def task(self, task_id: int) -> TaskRecord:
        """The record of the task with id ``task_id``."""
        rows = self._rows
        try:
            return TaskRecord(rows, rows.row_of(task_id))
        except KeyError:
            raise KeyError(f"run {self.name!r} has no task with id {task_id!r}") from None

    @property
    def running(self) -> bool:
        """True from entering the block until every task has finished."""
        return self._state in (_State.RUNNING, _State.CLOSING)

    @property
    def makespan(self) -> float:
        """Seconds from the run's start to the end of its last task (so far, if running)."""
        if self._state is _State.NEW:
            return 0.0
        if self.running:
            return self._seconds(time.monotonic_ns())
        last = self._rows.finished_max()
        return 0.0 if last is None else self._seconds(last)

    def critical_path(self) -> list[TaskRecord]:
        """The chain of tasks, first to last, that decided when the run ended.

        Start from the task that finished last; repeatedly step to the dependency that
        finished last before it started.  Any delay on this chain delays the run.
        """
        return critical_path(RecordMap(self._rows))

    def wait_breakdown(self) -> dict[int, WaitBreakdown]:
        """Per task: waiting for dependencies, waiting for the loop, running (seconds),
        and the upstream that released it (see :class:`aiodag.analysis.WaitBreakdown`)."""
        # The same analysis as for a run read back from a trace, on the engine's records.
        return cast("dict[int, WaitBreakdown]", wait_breakdown(RecordMap(self._rows)))

    def counts(self) -> dict[TaskStatus, int]:
        """How many tasks have each status (every status is a key)."""
        rows = self._rows
        return {status: rows.count(status) for status in TaskStatus}

    @property
    def failures(self) -> list[BaseException]:
        """The failures that fail the run: the root exceptions, each once.

        Each is the exception a task's body raised (never an ``UpstreamError``): one of
        the run's tasks, or a task outside the run whose failure reached a task of the
        run (it carries a note naming that task).  A failure that was handled (see
        :attr:`TaskRecord.handled`) is not among them.
        """
        return [error for error in self._failures.values() if not is_handled(error)]

    def __repr__(self) -> str:
        counts = " ".join(f"{status}={n}" for status, n in self.counts().items() if n)
        tasks = f"tasks={len(self._rows)}" + (f" {counts}" if counts else "")
        return f"<Run {self.name!r} {self._state.value} {tasks}>"

    # -- the scope ------------------------------------------------------------------

    async def __aenter__(self) -> Run:
        if self._state is not _State.NEW:
            raise RuntimeError(f"{self!r} was already entered; use a new Run for each run")
        self._loop = asyncio.get_running_loop()
        self._state = _State.RUNNING
        self._slots = global_slots() + self._own_slots
        self.anchor = ClockAnchor.now()
        self._rows.start_ns = self.anchor.mono_ns
        self._token = _current_run.set(self)
        self._owner = asyncio.current_task()
        if self.block_threshold is not None:
            self._watch = watch_loop(self._loop, self.block_threshold)
        emit(self._slots, RunStarted(self, self.anchor.mono_ns, self.anchor.wall_ns))
        return self

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: object) -> bool:
        assert self._token is not None
        _current_run.reset(self._token)
        self._state = _State.CLOSING
        absorbed = False
        if self._stopped_by is not None:  # seam: issue 13 -- fail_fast's own cancellation
            absorbed, et, exc = absorb_stop(self, et, exc)
        cancelled = et is not None and issubclass(et, asyncio.CancelledError)
        body_error = exc if exc is not None and not cancelled else None
        passed_on = block_ended(self, exc, body_error)
        if exc is not None and not passed_on:
            # The code that owns the run stopped abnormally: like TaskGroup, stop the
            # tasks instead of letting them run on unobserved.
            self._cancel_unfinished()
        while self._unfinished:
            self._idle = self._loop.create_future()
            try:
                await self._idle
            except asyncio.CancelledError:
                # Cancelled while waiting: cancel the tasks, and keep waiting until they
                # have ended, so no task outlives its run; then propagate.
                cancelled = True
                self._cancel_unfinished()
        self._idle = None
        if self._watch is not None:
            assert self.block_threshold is not None
            unwatch_loop(self._watch, self.block_threshold)
            self._watch = None
        self._state = _State.FINISHED
        self._closed = True
        self._end_ns = time.monotonic_ns()
        failures = self.failures
        for error in failures:
            log_failure(error)  # once: a failure that went on was logged then
        self.cancelled = cancelled
        emit(self._slots, RunFinished(self, self._end_ns))
        raise_failures(self, exc, body_error, passed_on, cancelled, failures)
        return absorbed  # seam: issue 13 -- True: swallow fail_fast's CancelledError

    def _cancel_unfinished(self) -> None:
        for handle in list(alive_handles(self._loop)):
            if getattr(handle, "_run", None) is self:
                handle.cancel()

    # -- called by the engine -------------------------------------------------------

    def _seconds(self, ts: int) -> float:
        return (ts - self.anchor.mono_ns) / 1e9

    def _loop_blocked(self, event: LoopBlocked) -> None:
        threshold = self.block_threshold
        if threshold is not None and event.duration_ns >= threshold * 1e9:
            self.loop_blocks.append(event)

    def _discard(self, row: int) -> None:
        """Forget a task whose creation did not complete (a sink raised)."""
        self._rows.discarded.add(row)
        self._unfinished -= 1

    _passed_on = runfailures.passed_on
    _failed = runfailures.failed

    def _all_done(self) -> None:
        if self._idle is not None and not self._idle.done():
            self._idle.set_result(None)
