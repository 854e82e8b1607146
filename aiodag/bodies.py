"""A started handle's coroutine: its body, called with its upstreams' results — or the
end of a task that will not run.

Made when the handle starts (see :mod:`aiodag.handle`), so a task's body never exists
before its inputs do.  The body's coroutine itself becomes the asyncio task's coroutine:
the engine adds no coroutine of its own around it (a run or a sink adds
:func:`aiodag.reporting.observed`; a plain ``def`` runs in :func:`aiodag.executor.in_executor`).
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .deps import ALL_FUTURES, ArgPlan, resolve
from .errors import UpstreamError, caused_by
from .executor import in_executor
from .introspection import AsyncioFace
from .labels import short_repr
from .state import WAITING, done, exception, result, stored_error

if TYPE_CHECKING:
    from .handle import TaskHandle

__all__ = ["body_of", "never_run", "resolved", "upstream_trouble"]



def body_of(handle: TaskHandle[Any], args: tuple[Any, ...], kwargs: dict[str, Any],
            plan: ArgPlan | None) -> Any:
    """The body's coroutine, called with the upstreams' results (a coroutine raising
    what the call raised, if it raised)."""
    spec = handle._spec
    try:
        # In the try: an upstream's sink may have cancelled it after it ended well
        # (raising CancelledError on TaskFinished), so reading it can raise.
        if plan is ALL_FUTURES:
            if not spec.is_async:
                return in_executor(handle, spec, map(result, args), kwargs)
            n = len(args)
            # (Direct calls for the usual few upstreams: no iterator, no tuple.)
            if n == 1:
                body = spec.fn(result(args[0]))
            elif n == 2:
                body = spec.fn(result(args[0]), result(args[1]))
            else:
                body = spec.fn(*map(result, args))
        else:
            if plan is not None:
                args, kwargs = resolve(plan, args, kwargs)
            if not spec.is_async:
                return in_executor(handle, spec, args, kwargs)
            body = spec.fn(*args, **kwargs) if kwargs else spec.fn(*args)
        if type(body) is not types.CoroutineType:
            return _awaiting(body)  # any other awaitable: awaited for its value
        return body
    except BaseException as exc:
        return _raising(exc)


def resolved(args: tuple[Any, ...], kwargs: dict[str, Any],
             plan: ArgPlan | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's arguments with every upstream replaced by its result."""
    if plan is ALL_FUTURES:
        return tuple(map(result, args)), kwargs
    if plan is not None:
        return resolve(plan, args, kwargs)
    return args, kwargs


def upstream_trouble(handle: TaskHandle[Any], deps: Sequence[asyncio.Future[Any]]) -> Any:
    """The coroutine of a task that will not run: an upstream failed or was cancelled.
    It ends with that upstream's failure as an :class:`UpstreamError`, or cancelled."""
    cancelled: asyncio.Future[Any] | None = None
    for fut in deps:
        if not is_done(fut):
            continue
        if fut.cancelled():
            cancelled = cancelled or fut
            continue
        exc = stored_error(fut)
        if exc is not None:
            exception(fut)  # read by the engine: the failure is reported through it
            root = exc.root if isinstance(exc, UpstreamError) else ref(fut)
            upstream_id = fut.id if isinstance(fut, AsyncioFace) else None  # type: ignore[attr-defined]
            error = UpstreamError(handle._aiodag_ref, ref(fut), upstream_id, root)
            return _raising(caused_by(error, exc))
    assert cancelled is not None
    return _raising(asyncio.CancelledError(
        f"{handle._aiodag_ref} did not run: its upstream {ref(cancelled)} was cancelled"
    ))


def is_done(fut: asyncio.Future[Any]) -> bool:
    """``fut.done()``, also for a handle not yet started (which asyncio cannot ask)."""
    if isinstance(fut, AsyncioFace):
        return fut._phase != WAITING and done(fut)  # type: ignore[attr-defined]
    return fut.done()


def ref(value: object) -> str:
    """``name#id`` for a handle (as labels show upstreams), a short repr for the rest."""
    if isinstance(value, AsyncioFace):
        return value._aiodag_ref  # type: ignore[attr-defined,no-any-return]
    return short_repr(value)


async def _raising(error: BaseException) -> Any:
    """The coroutine of a task that ends with ``error`` without running its body."""
    raise error


async def _awaiting(awaitable: Any) -> Any:
    """The coroutine of a body that returned another kind of awaitable."""
    return await awaitable


async def never_run() -> None:
    """The coroutine of a task cancelled before it started (it is never run)."""
