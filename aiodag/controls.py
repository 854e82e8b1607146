"""Execution controls: retries, a timeout and concurrency limits around a task's body.

::

    @task(retries=3, retry_delay=0.5, timeout=10.0, limit=4)
    async def fetch(url): ...

    async with aiodag.Run("crawl", limit=8):      # at most 8 bodies of the run at once
        ...

A task called with none of these options never enters this module: the engine checks
one flag (:data:`aiodag.options.in_use`) before it starts the body.  Once any option is
in use in the process, the start of a body under options (:func:`applies`) is handed to
:func:`drive`, which

1. waits for a slot of the task's ``limit``, then of the run's (always in that order, so
   two limits cannot deadlock); the task stays ``pending`` while it waits, and its
   ``TaskStarted`` is emitted when it has its slots, so the wait is not counted as
   running;
2. runs the body, each attempt under its own ``timeout`` (measured from the start of
   the attempt: waiting for upstreams or for a slot does not count);
3. retries what ``retry_on`` matches, ``retries`` times at most, sleeping
   ``retry_delay * retry_backoff ** (n - 1)`` seconds (capped by ``retry_max_delay``, then
   spread by +-``retry_jitter``) before retry ``n``.

One handle stands for the call whatever the attempts; only the last attempt's outcome
is the task's status.  Each attempt is kept in :attr:`aiodag.TaskRecord.attempts`, each
failed one is reported to sinks as :class:`~aiodag.events.AttemptFailed`.

The options are checked, when a task function or a run is made, by
:mod:`aiodag.options`; a limit's slots are :class:`aiodag.limits.Limit`'s.  This module
drives a body under them and records what happened (:class:`ControlFacts`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import forget_frames, is_task_failure
from .events import Attempt, AttemptFailed
from .executor import in_executor, still_queued
from .limits import Limit
from .options import Controls
from .reporting import report_started
from .rows import NONE
from .sinks import emit

if TYPE_CHECKING:
    from .decorator import TaskFunction
    from .handle import TaskHandle


__all__ = [
    "ControlFacts",
    "applies",
    "drive",
    "driven",
]

logger = logging.getLogger("aiodag")


class ControlFacts:
    """What the controls record of one task: its attempts and its wait for a slot.

    A run keeps it by row (:attr:`aiodag.rows.TaskRows.controls`), only for tasks
    under controls.
    """

    __slots__ = ("attempts", "limit_wait_ns")

    def __init__(self) -> None:
        self.attempts: tuple[Attempt, ...] = ()
        self.limit_wait_ns: int | None = None


def _facts(handle: TaskHandle[Any]) -> ControlFacts | None:
    """The facts the run of ``handle`` keeps of it (``None``: it is in no run)."""
    row = handle._row
    if row == NONE:
        return None
    kept = handle._run._rows.controls  # type: ignore[union-attr]  # (a row is in a run)
    facts = kept.get(row)
    if facts is None:
        kept[row] = facts = ControlFacts()
    return facts


# -- driving the body ---------------------------------------------------------------


def applies(handle: TaskHandle[Any]) -> bool:
    """True if ``handle``'s body runs under controls: its task's, or its run's limit."""
    if handle._spec.controls is not None:
        return True
    run = handle._run
    return run is not None and run._limit is not None


async def drive(handle: TaskHandle[Any], spec: TaskFunction[Any], args: Any,
                kwargs: dict[str, Any]) -> Any:
    """Start and run ``handle``'s body under its controls; return its result."""
    controls = spec.controls
    run = handle._run
    held: list[Limit] = []
    try:
        asked = time.monotonic_ns()
        for limit in (controls.limit if controls is not None else None,
                      run._limit if run is not None else None):
            if limit is not None:
                await limit.acquire(handle)
                held.append(limit)
        _report_started(handle, asked if held else None)
        if controls is None or (not controls.retries and controls.timeout is None):
            return await _call(handle, spec, args, kwargs)
        return await _attempts(handle, spec, controls, tuple(args), kwargs)
    except BaseException:
        del args, kwargs  # the traceback keeps this frame: not the argument values
        raise
    finally:
        for limit in held:
            limit.release(handle)


async def driven(handle: TaskHandle[Any], resolved: Callable[..., Any], args: Any,
                 kwargs: dict[str, Any], plan: Any) -> Any:
    """The coroutine of a handle under controls: its call (``resolved(args, kwargs,
    plan)`` gives the arguments with the upstreams' results), driven by :func:`drive`."""
    try:
        args, kwargs = resolved(args, kwargs, plan)
        return await drive(handle, handle._spec, args, kwargs)
    except BaseException:
        del args, kwargs, plan  # the traceback keeps this frame: not the argument values
        raise
    finally:
        handle._end_ns = time.monotonic_ns()


def _report_started(handle: TaskHandle[Any], asked: int | None) -> None:
    """As a reported task's start (reporting.observed), once the slots are held; with
    ``asked``, when it asked for them, the time it waited for them."""
    row = handle._row
    sinks = handle._sinks
    if row == NONE and not sinks:
        return
    ts = time.monotonic_ns()
    limit_wait = None if asked is None else ts - asked
    if limit_wait is not None and row != NONE:
        _facts(handle).limit_wait_ns = limit_wait  # type: ignore[union-attr]
    report_started(handle, ts, limit_wait)


async def _call(handle: TaskHandle[Any], spec: TaskFunction[Any], args: Any,
                kwargs: dict[str, Any]) -> Any:
    """One run of the body."""
    try:
        if not spec.is_async:
            return await in_executor(handle, spec, args, kwargs)
        handle._body = body = spec.fn(*args, **kwargs)
        return await body
    except BaseException:
        del args, kwargs  # (as in drive)
        raise


async def _attempts(handle: TaskHandle[Any], spec: TaskFunction[Any], controls: Controls,
                    args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    facts = _facts(handle)
    attempts: list[Attempt] = []
    timeout = controls.timeout
    number = 0
    while True:
        number += 1
        started = time.monotonic_ns()
        scope = asyncio.timeout(timeout) if timeout is not None else None
        try:
            if scope is None:
                result = await _call(handle, spec, args, kwargs)
            else:
                async with scope:
                    result = await _call(handle, spec, args, kwargs)
        except Exception as exc:
            ended = time.monotonic_ns()
            # Only our own scope's expiry is a timeout: the body may raise TimeoutError
            # of its own (then it is an ordinary failure).
            timed_out = scope is not None and scope.expired()
            error: BaseException = exc
            if timed_out:
                which = f" (attempt {number})" if controls.retries else ""
                error = TimeoutError(
                    f"{handle._aiodag_ref} ran over its timeout of {timeout:g} s{which}")
            # Never retried: another task's failure passed on (an UpstreamError, or an
            # awaited task's error re-raised), which trying again cannot change.
            retry = (number <= controls.retries and isinstance(error, controls.retry_on)
                     and not is_task_failure(error))
            delay = controls.delay_before(number) if retry else None
            _forget_locals(exc, spec)  # kept in the record: not the argument values
            _record(attempts, facts, Attempt(number, started, ended, error, timed_out))
            if handle._sinks:
                emit(handle._sinks, AttemptFailed(handle.id, number, error, started, ended,
                                                  timed_out, delay))
            if delay is None:
                del args, kwargs  # (as in drive)
                if error is exc:
                    raise
                # Caused by the cancellation that stopped the body: its traceback shows
                # where the body was when its time ran out.
                raise error from (exc.__cause__ or exc)
            logger.info("task %s: attempt %d failed (%s: %s); retrying in %.3g s",
                        handle._aiodag_ref, number, type(error).__name__, error, delay)
            try:
                await asyncio.sleep(delay)
            except BaseException:
                # The record keeps this frame (in the failed attempt's traceback): not
                # the argument values.
                del args, kwargs
                raise
            continue
        except asyncio.CancelledError as exc:
            if still_queued(handle._body):
                del args, kwargs  # (as in drive)
                raise  # cancelled while its call waited for a worker: it never ran
            # Cancelled while it ran (its own timeout is a TimeoutError, above): the
            # body ran, so the attempt counts — in the record, and, for a retry, to the
            # sinks (a trace counts the attempts from these events).
            ended = time.monotonic_ns()
            _forget_locals(exc, spec)
            _record(attempts, facts, Attempt(number, started, ended, exc))
            if handle._sinks and number > 1:
                emit(handle._sinks, AttemptFailed(handle.id, number, exc, started, ended,
                                                  False, None))
            del args, kwargs  # (as in drive)
            raise
        _record(attempts, facts, Attempt(number, started, time.monotonic_ns(), None))
        try:
            return result
        finally:
            # A failed attempt's traceback in the record keeps this frame: not the
            # arguments, nor the result.
            del result, args, kwargs


def _record(attempts: list[Attempt], facts: ControlFacts | None, attempt: Attempt) -> None:
    """One more attempt, in the task's record if it has one (its run keeps a tuple)."""
    attempts.append(attempt)
    if facts is not None:
        facts.attempts = tuple(attempts)


def _forget_locals(error: BaseException, spec: TaskFunction[Any]) -> None:
    """Clear the body's own (ended) frames in the tracebacks of ``error`` and the
    exceptions chained to it (a timeout's cancellation holds the body's frame), as the
    run does for a task's final error: records keep the lines, not the argument values.

    The engine's frames there go too: the attempt's call (ended), which holds the handle
    and so its result, and the attempts loop's own entry (still running: it is left out
    of the traceback; raising the error again puts it back).
    """
    fn = inspect.unwrap(getattr(spec.fn, "__func__", spec.fn))
    codes = [_call.__code__, in_executor.__code__]
    code: types.CodeType | None = getattr(fn, "__code__", None)
    if code is not None:
        codes.append(code)
    seen: set[int] = set()
    chained: BaseException | None = error
    while chained is not None and id(chained) not in seen:
        seen.add(id(chained))
        tb = chained.__traceback__
        if tb is not None and tb.tb_frame.f_code is _attempts.__code__:
            chained.__traceback__ = tb.tb_next
        for each in codes:
            forget_frames(chained, each)
        chained = chained.__cause__ or chained.__context__
