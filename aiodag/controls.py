"""Execution controls: retries, a timeout and concurrency limits around a task's body.

::

    @task(retries=3, retry_delay=0.5, timeout=10.0, limit=4)
    async def fetch(url): ...

    async with aiodag.Run("crawl", limit=8):      # at most 8 bodies of the run at once
        ...

A task called with none of these options never enters this module: the handle checks
one flag (:data:`in_use`) before it starts the body.  Once any option is in use in the
process, the handle hands the start of the body to :func:`drive`, which

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
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import random
import time
import types
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import forget_frames, is_task_failure
from .events import Attempt, AttemptFailed
from .executor import in_executor
from .reporting import report_started
from .rows import CALLER, NONE
from .sinks import emit

if TYPE_CHECKING:
    from .decorator import TaskFunction
    from .handle import TaskHandle


__all__ = [
    "ControlFacts",
    "Controls",
    "Limit",
    "applies",
    "describe",
    "drive",
    "in_use",
    "make_controls",
    "merge_controls",
    "run_limit",
]

logger = logging.getLogger("aiodag")

in_use = False
"""True once a task function with options or a Run with a ``limit`` exists: from then
on handles ask :func:`drive` to start their bodies (see ``handle.py``, seam issue 13)."""


def _enable() -> None:
    global in_use
    in_use = True


# -- options ------------------------------------------------------------------------


def _number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _check(ok: bool, option: str, value: object, fix: str) -> None:
    if not ok:
        raise ValueError(f"task(): {option}={value!r} is not valid; {fix}")


class Controls(NamedTuple):
    """The execution options of one task function (immutable, checked)."""

    retries: int
    retry_delay: float
    retry_backoff: float
    retry_max_delay: float | None
    retry_jitter: float
    retry_on: tuple[type[BaseException], ...]
    timeout: float | None
    limit: Limit | None

    def delay_before(self, retry: int, rand: random.Random | None = None) -> float:
        """Seconds to sleep before retry number ``retry`` (1 for the first retry)."""
        delay = self.retry_delay * self.retry_backoff ** (retry - 1)
        if self.retry_max_delay is not None:
            delay = min(delay, self.retry_max_delay)
        if self.retry_jitter and delay:
            spread = (rand or random).uniform(-self.retry_jitter, self.retry_jitter)
            delay *= 1.0 + spread
        return delay


def make_controls(
    *,
    retries: int = 0,
    retry_delay: float = 0.0,
    retry_backoff: float = 2.0,
    retry_max_delay: float | None = None,
    retry_jitter: float = 0.1,
    retry_on: tuple[type[BaseException], ...] | type[BaseException] = (Exception,),
    timeout: float | None = None,
    limit: int | Limit | None = None,
) -> Controls | None:
    """Check the options; ``None`` when they are all at their defaults (no controls)."""
    _check(not isinstance(retries, bool) and isinstance(retries, int) and retries >= 0,
           "retries", retries, "give the number of retries after the first attempt, "
           "an int of 0 or more (e.g. retries=3)")
    _check(_number(retry_delay) and retry_delay >= 0, "retry_delay", retry_delay,
           "give the first delay in seconds, a number of 0 or more (e.g. retry_delay=0.5)")
    _check(_number(retry_backoff) and retry_backoff >= 1, "retry_backoff", retry_backoff,
           "give the factor each delay grows by, a number of 1 or more "
           "(1: constant delays, 2: doubling)")
    _check(retry_max_delay is None or (_number(retry_max_delay) and retry_max_delay >= 0),
           "retry_max_delay", retry_max_delay,
           "give the longest delay in seconds (a number of 0 or more) or None for no cap")
    _check(_number(retry_jitter) and 0 <= retry_jitter <= 1, "retry_jitter", retry_jitter,
           "give the random spread of each delay as a fraction from 0 to 1 "
           "(0.1: +-10%; 0: none)")
    if isinstance(retry_on, type):
        retry_on = (retry_on,)
    _check(isinstance(retry_on, tuple) and all(
        isinstance(kind, type) and issubclass(kind, Exception) for kind in retry_on),
        "retry_on", retry_on,
        "give a tuple of Exception subclasses, e.g. retry_on=(ConnectionError, "
        "TimeoutError); CancelledError, KeyboardInterrupt and SystemExit always end a task")
    _check(timeout is None or (_number(timeout) and timeout > 0), "timeout", timeout,
           "give the seconds one attempt may run, a number above 0, or None for no timeout")
    if not isinstance(limit, Limit):
        limit = run_limit(limit, "task(): limit")
    defaults = (retries == 0 and retry_delay == 0.0 and retry_backoff == 2.0
                and retry_max_delay is None and retry_jitter == 0.1
                and retry_on == (Exception,) and timeout is None and limit is None)
    if defaults:
        return None
    _enable()
    return Controls(retries, float(retry_delay), float(retry_backoff),
                    None if retry_max_delay is None else float(retry_max_delay),
                    float(retry_jitter), retry_on,
                    None if timeout is None else float(timeout), limit)


_DEFAULTS: dict[str, Any] = {
    "retries": 0, "retry_delay": 0.0, "retry_backoff": 2.0, "retry_max_delay": None,
    "retry_jitter": 0.1, "retry_on": (Exception,), "timeout": None, "limit": None,
}


def merge_controls(controls: Controls | None, options: dict[str, Any]) -> Controls | None:
    """``controls`` with the ``options`` given other than their defaults in place (a
    task wrapped again: ``task(fetch, ready)`` keeps fetch's options and its limit's
    slots)."""
    if controls is None:
        return make_controls(**options)
    merged = controls._asdict()
    for key, value in options.items():
        if value is not None and value != _DEFAULTS[key]:
            merged[key] = value
    return make_controls(**merged)


def describe(controls: Controls | None) -> str:
    """The options in a repr: `` retries=3 timeout=10.0 limit=4``."""
    if controls is None:
        return ""
    parts = [f"retries={controls.retries}"] if controls.retries else []
    if controls.timeout is not None:
        parts.append(f"timeout={controls.timeout:g}")
    if controls.limit is not None:
        parts.append(f"limit={controls.limit.size}")
    return "".join(" " + part for part in parts)


# -- limits -------------------------------------------------------------------------


class _Slots:
    """The slots of one limit on one event loop: a count and a FIFO of waiters."""

    __slots__ = ("free", "holders", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.holders: set[int] = set()  # ids of the tasks holding a slot


class Limit:
    """At most ``size`` bodies running at once, per event loop (a FIFO semaphore).

    Per loop, because one task function may be called under several loops in turn
    (each ``asyncio.run``), and an asyncio future belongs to one loop.
    """

    __slots__ = ("_by_loop", "_warned", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._warned = False
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Slots] = (
            weakref.WeakKeyDictionary())

    def __repr__(self) -> str:
        return f"<aiodag Limit {self.size}>"

    def _slots(self, loop: asyncio.AbstractEventLoop) -> _Slots:
        slots = self._by_loop.get(loop)
        if slots is None:
            self._by_loop[loop] = slots = _Slots(self.size)
        return slots

    def running(self, loop: asyncio.AbstractEventLoop) -> int:
        """How many slots are taken on ``loop``."""
        slots = self._by_loop.get(loop)
        return 0 if slots is None else self.size - slots.free

    async def acquire(self, handle: TaskHandle[Any]) -> None:
        """Take a slot for ``handle``, waiting (``pending``) while none is free."""
        slots = self._slots(handle.get_loop())
        if slots.free and not slots.waiters:
            slots.free -= 1
            slots.holders.add(handle.id)
            return
        row = handle._row
        caller = NONE if row == NONE else handle._run._rows.cells[8 * row + CALLER]  # type: ignore[union-attr]
        if caller in slots.holders and not self._warned:
            self._warn_nested(handle, caller)
        waiter: asyncio.Future[None] = handle.get_loop().create_future()
        slots.waiters.append(waiter)
        # The handle's status reads "pending" while it has a waiter (see handle.py).
        handle._waiter = waiter
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(slots)  # granted as it was cancelled: pass the slot on
            else:
                with contextlib.suppress(ValueError):
                    slots.waiters.remove(waiter)
            raise
        finally:
            handle._waiter = None
        slots.holders.add(handle.id)

    def release(self, handle: TaskHandle[Any]) -> None:
        """Give ``handle``'s slot back: to the longest waiter, if any."""
        slots = self._slots(handle.get_loop())
        slots.holders.discard(handle.id)
        self._release(slots)

    def _warn_nested(self, handle: TaskHandle[Any], caller_id: int) -> None:
        # The one way a limit can stop a run for ever: bodies holding every slot, each
        # waiting for a task it called that waits for a slot.  It cannot be told apart
        # from a caller that merely goes on running, so it is said once, not refused.
        self._warned = True
        logger.warning(
            "task %s waits for a slot of limit=%d while its caller (task #%d) holds one: "
            "if the caller waits for it, and every slot is held so, the run waits for "
            "ever. Limit the called function instead, give it a Run of its own, or "
            "raise the limit", handle._aiodag_ref, self.size, caller_id)

    @staticmethod
    def _release(slots: _Slots) -> None:
        while slots.waiters:
            waiter = slots.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # handed over: the count stays taken
                return
        slots.free += 1


def run_limit(limit: object, what: str = "Run(): limit") -> Limit | None:
    """A checked ``limit=`` (``None``: no limit)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(
            f"{what}={limit!r} is not valid; give the most bodies that may run at once, "
            "an int of 1 or more (e.g. limit=4), or None for no limit"
        )
    _enable()
    return Limit(limit)


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
            attempts.append(Attempt(number, started, ended, error, timed_out))
            if facts is not None:
                facts.attempts = tuple(attempts)
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
            await asyncio.sleep(delay)
            continue
        attempts.append(Attempt(number, started, time.monotonic_ns(), None))
        if facts is not None:
            facts.attempts = tuple(attempts)
        return result


def _forget_locals(error: BaseException, spec: TaskFunction[Any]) -> None:
    """Clear the body's own (ended) frames in the tracebacks of ``error`` and the
    exceptions chained to it (a timeout's cancellation holds the body's frame), as the
    run does for a task's final error: records keep the lines, not the argument values.
    """
    fn = inspect.unwrap(getattr(spec.fn, "__func__", spec.fn))
    code: types.CodeType | None = getattr(fn, "__code__", None)
    if code is None:
        return
    seen: set[int] = set()
    chained: BaseException | None = error
    while chained is not None and id(chained) not in seen:
        seen.add(id(chained))
        forget_frames(chained, code)
        chained = chained.__cause__ or chained.__context__
