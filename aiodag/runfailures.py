"""A run's failures: which fail it, and what leaving its block raises.

The engine tells the run of each failing task (:func:`failed`: its own failure, or
one passed on from an upstream) and of failures from outside the run that reached its
tasks (:func:`passed_on`); the run keeps each root failure once.  When the block ends,
:func:`block_ended` sorts out what the block itself received or raised, and
:func:`raise_failures` raises, as :class:`asyncio.TaskGroup` does, an
:class:`ExceptionGroup` of the failures that were not handled.

``failed`` and ``passed_on`` are methods of :class:`~aiodag.Run` (the class binds them).
"""

from __future__ import annotations

import asyncio
import contextlib
import types
from typing import TYPE_CHECKING

from .errors import (
    failure_source,
    forget_frames,
    is_task_failure,
    mark_handled,
    mark_passed_on,
)
from .failfast import stop_run  # seam: issue 13
from .records import TaskRecord

if TYPE_CHECKING:
    from .runs import Run

__all__ = ["block_ended", "failed", "passed_on", "raise_failures"]


def block_ended(run: Run, exc: BaseException | None, body_error: BaseException | None) -> bool:
    """The block ended (raising ``exc``, if it did; ``body_error`` unless that is a
    cancellation): settle what it received.  True if what it raised is its tasks'
    failures, passed on (they are the run's to report, once)."""
    # The block awaited a task and got its failure: the failure is the tasks', so the
    # other tasks run on and it surfaces (once) among the run's failures.
    if exc is None:
        for received in run._received:  # the block went on normally: handled
            mark_handled(received)
    run._received = []
    # Also an inner Run's group of its tasks' failures: still the tasks' failures.
    failures = _task_failures(body_error) if body_error is not None else None
    for failure in failures or ():
        passed_on(run, mark_passed_on(failure))
    return failures is not None


def raise_failures(run: Run, exc: BaseException | None, body_error: BaseException | None,
                   passed: bool, cancelled: bool, failures: list[BaseException]) -> None:
    """Raise what leaving the run's block raises, if anything."""
    if cancelled:
        if exc is not None and isinstance(exc, asyncio.CancelledError):
            return  # (the block's own cancellation propagates)
        raise asyncio.CancelledError(f"run {run.name!r} was cancelled")
    if body_error is not None and not isinstance(body_error, Exception):
        return  # KeyboardInterrupt, SystemExit: never wrapped
    if passed:
        if run.raise_errors and failures:
            body_error = None  # its root cause is among the failures raised below
        else:
            return  # the block's own exception, as it is
    errors: list[BaseException] = [body_error] if body_error is not None else []
    if run.raise_errors:
        errors.extend(failures)
    if errors:
        n = len(errors)
        raise BaseExceptionGroup(f"run {run.name!r}: {n} error{'s' if n != 1 else ''}", errors)


def passed_on(self: Run, root: BaseException) -> None:
    """A failure reached one of the run's tasks, or its block: the run reports it."""
    if id(root) in self._failures or failure_source(root) is None:
        return  # the run's own, or a plain future's error (not a task's failure)
    self._failures[id(root)] = root
    source = failure_source(root)
    assert source is not None
    what = source if source.startswith("<") else f"task {source}"
    note = f"aiodag: raised by {what}, outside run {self.name!r}"
    if note not in getattr(root, "__notes__", ()):
        with contextlib.suppress(Exception):
            root.add_note(note)

def failed(self: Run, row: int, error: BaseException, *, root: bool,
           body: types.CodeType | None = None) -> None:
    self._rows.errors[row] = error
    if root:
        self._failures[id(error)] = error
    if self.fail_fast:  # seam: issue 13 -- the first failure stops the run
        stop_run(self, TaskRecord(self._rows, row))
    if body is not None:
        forget_frames(error, body)  # the record keeps the lines, not the argument values


def _task_failures(error: BaseException) -> list[BaseException] | None:
    """The tasks' failures ``error`` carries (itself, or every leaf of an exception
    group), or ``None`` if any part of it is not a task's failure."""
    if isinstance(error, BaseExceptionGroup):
        leaves: list[BaseException] = []
        for inner in error.exceptions:
            found = _task_failures(inner)
            if found is None:
                return None
            leaves.extend(found)
        return leaves
    return [error] if is_task_failure(error) else None
