"""``Run(..., fail_fast=True)``: the first failure of a task cancels the rest of the run.

By default a failing task stops only its dependents, and independent branches run to
the end.  With ``fail_fast=True`` the run behaves like :class:`asyncio.TaskGroup`: the
first task that ends ``failed`` (or ``upstream_failed``, for a failure from outside the
run) cancels every unfinished task of the run and, while it still runs, the code inside
the ``async with`` block; leaving the block then raises the failure (in the run's
``ExceptionGroup``), not a ``CancelledError``.

A failure here is final: a task with ``retries`` fails once its last attempt has.  The
cancellation is scheduled (``call_soon``) rather than done inside the failing task's
own bookkeeping, so that task ends cleanly first.  A failure that would have been
handled later (a task taking it through :func:`aiodag.outcome`, or code awaiting it
and going on) still stops the run: with ``fail_fast`` every failure is fatal.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .errors import mark_passed_on
from .keepalive import alive_handles

if TYPE_CHECKING:
    from .runs import Run, TaskRecord

__all__ = ["absorb_stop", "check_fail_fast", "stop_run"]


def check_fail_fast(value: object) -> bool:
    """A checked ``fail_fast=``."""
    if not isinstance(value, bool):
        raise TypeError(
            f"Run(): fail_fast={value!r} is not valid; give True (the first failure "
            "cancels the rest of the run) or False (only its dependents are skipped)"
        )
    return value


def stop_run(run: Run, record: TaskRecord) -> None:
    """``record``'s task failed: cancel the rest of ``run`` soon (once)."""
    if run._stopped_by is not None or run._closed:
        return
    run._stopped_by = f"{record.name}#{record.id}"
    if record.error is not None:
        # It stopped the run, so it went further than any code that may receive it
        # later (an outcome() taker, a block catching it): never "handled".
        mark_passed_on(record.error)
    run._loop.call_soon(_stop, run)


def _stop(run: Run) -> None:
    message = f"run {run.name!r} stopped: {run._stopped_by} failed (fail_fast=True)"
    owner = run._owner
    if run._state.value == "running" and owner is not None and not owner.done():
        # The block is still running (not yet waiting in __aexit__): stop it too, as a
        # TaskGroup does, so a block sleeping or awaiting something else ends now.
        run._owner_cancelled = True
        owner.cancel(message)
    for handle in list(alive_handles(run._loop)):
        if getattr(handle, "_run", None) is run:
            handle.cancel(message)


def absorb_stop(
    run: Run, et: type[BaseException] | None, exc: BaseException | None
) -> tuple[bool, type[BaseException] | None, BaseException | None]:
    """In ``Run.__aexit__`` after a fail_fast stop: take back the cancellation the stop
    caused, so the run raises its failures instead.  Returns ``(absorbed, et, exc)``;
    ``absorbed`` means the block's ``CancelledError`` came from the stop and must be
    swallowed if no failure is raised in its place.

    A cancellation from elsewhere (the owner cancelled by its caller too) is kept:
    ``Task.cancelling()`` still counts it after the stop's own is taken back.
    """
    owner: asyncio.Task[Any] | None = run._owner
    if run._owner_cancelled and owner is not None:
        run._owner_cancelled = False
        owner.uncancel()
    if (et is not None and issubclass(et, asyncio.CancelledError)
            and (owner is None or not owner.cancelling())):
        return True, None, None
    return False, et, exc
