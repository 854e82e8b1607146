"""The end of a task: settled by the one done-callback every handle has.

When a handle's asyncio task is done, :func:`settle` runs (in the task's context, one
loop step later, as any done-callback): it derives the task's status from the asyncio
task itself, records it, sorts out who reports a failure, counts down on the
dependents (starting those it made ready), lets the engine drop the handle and, last,
tells the sinks.  The sinks come last: whatever one raises (even SystemExit), the
engine's own bookkeeping is complete and no dependent or run waits for ever (#8).
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import time
from typing import TYPE_CHECKING, Any

from .errors import UpstreamError, is_task_failure, mark_handled, mark_passed_on, mark_task_failure
from .events import TaskFinished, TaskStatus
from .executor import still_queued
from .keepalive import _ALIVE, _fallback_alive
from .rows import FINISHED, NONE, READY, RELEASED, STARTED, STATUS, STATUS_CODE
from .sinks import emit
from .state import SETTLED, cancelled, exception, stored_error

if TYPE_CHECKING:
    from .handle import TaskHandle

__all__ = ["settle"]

PENDING, RUNNING, OK = TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.OK
FAILED, CANCELLED = TaskStatus.FAILED, TaskStatus.CANCELLED
UPSTREAM_FAILED = TaskStatus.UPSTREAM_FAILED
_now = time.monotonic_ns
_new_tuple = tuple.__new__
_NONE_READY: list[Any] = []  # shared, never added to


_draining: tuple[asyncio.AbstractEventLoop, list[TaskHandle[Any]]] | None = None
"""The loop settling handles now, and the handles it still has to settle."""


_settling: TaskHandle[Any] | None = None


def settling() -> TaskHandle[Any] | None:
    """The handle whose end is being settled now (its sinks are being told
    ``TaskFinished``), or ``None``: for a sink that must reach the handle itself, as
    ``asyncio.current_task()`` gives it during ``TaskStarted``."""
    return _settling


def settle(handle: TaskHandle[Any]) -> None:
    """The done-callback of every handle (run in its context; see the module docstring)."""
    _drain(handle, True)



def _drain(first: TaskHandle[Any], in_context: bool = False) -> None:
    """Settle ``first``, then every handle its settling ended at once.

    Settling starts the dependents it makes ready, which may end at once (eager bodies
    that return without suspending): those are queued and settled in turn by the
    outermost call, so a long chain never recurses.  If settling raises (a sink's
    SystemExit), what is still queued is left to the loop.
    """
    global _draining
    draining = _draining
    if draining is not None:
        if draining[0] is first._home:
            draining[1].append(first)
        else:  # another thread's loop is settling: this one settles on its own loop
            first._home.call_soon(settle, first, context=first._context)
        return
    queue = [first]
    _draining = (first._home, queue)
    i = 0
    try:
        if in_context:  # (a done-callback runs in the handle's context already)
            i = 1
            _settle(first)
        while i < len(queue):
            handle = queue[i]
            i += 1
            handle._context.run(_settle, handle)  # type: ignore[union-attr]
    finally:
        _draining = None
        for handle in queue[i:]:
            handle._home.call_soon(settle, handle, context=handle._context)


settle_now = _drain
"""Settle a handle that ended during its own start (an eager task whose body returned
at once), without waiting a loop step for its done-callback."""


def _settle(handle: TaskHandle[Any]) -> None:
    handle._phase = SETTLED
    if handle._deps is not None:
        # Ended before its upstreams did (cancelled, or another upstream failed):
        # they must not keep it, and what it holds, alive until they end.
        if cancelled(handle) and handle._trouble:
            handle._cancelled_before_start()
        handle._unregister()
    if cancelled(handle):
        status, error, failed_upstream = CANCELLED, None, None
    else:
        error = stored_error(handle)
        if error is None:
            status, failed_upstream = OK, None
        elif isinstance(error, UpstreamError):
            status, failed_upstream = UPSTREAM_FAILED, error.upstream_id
        else:
            status, failed_upstream = FAILED, None
    row = handle._row
    sinks = handle._sinks
    run = handle._run
    ts = handle._end_ns or (_now() if row != NONE or sinks else 0)
    if row != NONE:
        cells = run._rows.cells  # type: ignore[union-attr]  # (a row is in a run)
        at = 8 * row
        cells[at + STATUS] = STATUS_CODE[status]
        cells[at + FINISHED] = ts
        if still_queued(handle._body):
            facts = run._rows.controls.get(row)  # type: ignore[union-attr]
            if facts is None or not facts.attempts:
                # Cancelled while queued: the body never ran (a retry's earlier
                # attempts did: then it started with the first).
                cells[at + STARTED] = NONE
    if error is not None:
        _ended_with(handle, status, error)
    elif handle._received is not None:
        if status is OK:  # the body received these failures and went on normally
            for received in handle._received:
                mark_handled(received)
        handle._received = None

    # The dependents it makes ready start after its end is reported (below).
    ready: list[TaskHandle[Any]] = _NONE_READY
    dependents = handle._dependents
    if dependents is not None:
        ready = []
        handle._dependents = None
        if status is OK:
            for dependent in dependents:
                dependent._pending -= 1
                if not dependent._pending:
                    dependent_row = dependent._row
                    if dependent_row != NONE:  # its last arrival: this one
                        cells = dependent._run._rows.cells  # type: ignore[union-attr]
                        at = 8 * dependent_row
                        cells[at + READY] = ts or _now()
                        cells[at + RELEASED] = handle.id
                    ready.append(dependent)
        else:
            for dependent in dependents:
                dependent._trouble = True  # it will not run: settle it at once
            ready.extend(dependents)

    loop = handle._home
    alive = getattr(loop, _ALIVE, _fallback_alive)
    alive.discard(handle)
    if not alive and alive is not _fallback_alive and sys.getsizeof(alive) > 4096:
        # A set never shrinks: after a burst of many tasks, a new one, so the burst's
        # memory is not kept for the rest of the process.
        setattr(loop, _ALIVE, set())
    if run is not None:
        watch = run._watch
        if watch is not None and watch._culprit is not None:
            watch.flush()  # a block by this task's last step: reported before its end
        run._unfinished -= 1
        if not run._unfinished:
            run._all_done()
    global _settling
    try:
        if sinks:
            _settling = handle
            emit(sinks, _new_tuple(TaskFinished,  # (no NamedTuple's Python-level __new__)
                                   (handle.id, status, error, failed_upstream, ts)))
    except asyncio.CancelledError:
        pass  # the task has ended: there is nothing left to cancel
    finally:
        _settling = None
        if ready:
            _start_all(ready)


def _start_all(ready: list[TaskHandle[Any]]) -> None:
    """Start the dependents an upstream's end made ready.  Whatever one start raises
    (KeyboardInterrupt from an eager first step), the others still start: on the loop,
    if not here."""
    for i, dependent in enumerate(ready):
        try:
            dependent._ready()
        except BaseException:
            for rest in ready[i + 1:]:
                rest._home.call_soon(rest._ready)  # (not in its context: starting enters it)
            raise


def _ended_with(handle: TaskHandle[Any], status: TaskStatus, error: BaseException) -> None:
    run = handle._run
    row = handle._row
    if status is FAILED and not is_task_failure(error):
        # The source of a failure.  It is logged later, once, and only if nobody
        # handles it (errors.is_handled): when it stops a dependent or is raised on,
        # when its run ends, or, outside any run, by asyncio itself if the handle is
        # dropped with the error never retrieved.
        mark_task_failure(error, handle._aiodag_ref)
        if run is not None and row != NONE:
            run._failed(row, error, root=True, body=_code_of(handle._spec.fn))
            exception(handle)  # the run reports it
        return
    # A failure passed on: an UpstreamError, or a body re-raising what it awaited.
    root = mark_passed_on(error)
    exception(handle)  # reported through its root
    if run is not None and row != NONE:
        run._failed(row, error, root=False, body=_code_of(handle._spec.fn))
        run._passed_on(root)


def _code_of(fn: Any) -> Any:
    """The code object of a task's function (``None`` for a callable object)."""
    fn = inspect.unwrap(getattr(fn, "__func__", fn))
    return getattr(fn, "__code__", None)
