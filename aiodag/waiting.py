"""A handle's wait for its upstreams, and its leaving them.

A handle waits for its upstreams by counting them (``_pending``): each upstream handle
holds it among its ``_dependents`` and counts down on it when it ends
(:mod:`aiodag.ending`); a plain asyncio future does the same through
:mod:`aiodag.foreign`.  The handle registers itself on its upstreams in
``TaskHandle.__init__`` (inline there: it is the hot path).  Here: what happens when
the wait ends otherwise — a future of another loop, a handle cancelled or stopped by an
upstream's failure before it starts, a plain future's end.

These are methods of :class:`~aiodag.TaskHandle` (the class binds them).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, cast

from .bodies import is_done, upstream_trouble
from .errors import is_handled, log_failure, root_of
from .foreign import stop_waiting_for_foreign
from .introspection import AsyncioFace
from .rows import NONE, READY
from .state import SETTLED, WAITING
from .state import exception as _exception
from .state import stored_error as _stored_error

if TYPE_CHECKING:
    from .handle import TaskHandle

__all__ = [
    "cancelled_before_start", "foreign_done", "foreign_loop", "stop_for_upstream",
    "unregister",
]

_now = time.monotonic_ns


def foreign_loop(self: TaskHandle[Any], fut: asyncio.Future[Any]) -> None:
    self._unregister()  # undo what this loop registered so far
    self._phase = SETTLED  # never made: nothing to report when it goes
    raise ValueError(
        f"task {self._spec.name!r} got {fut!r}, a future of another event loop; "
        "a dependency must belong to the loop the task is called on"
    )


def stop_for_upstream(self: TaskHandle[Any]) -> Any:
    deps = self._deps or ()
    self._unregister()
    self._deps = deps  # (kept: read if this task is cancelled before its first step)
    return upstream_trouble(self, deps)


def unregister(self: TaskHandle[Any]) -> None:
    """Leave every upstream it still waits for (they hold it until then)."""
    deps, self._deps = self._deps, None
    for fut in deps or ():
        if isinstance(fut, AsyncioFace):  # a handle
            upstream = cast("TaskHandle[Any]", fut)
            dependents = upstream._dependents
            if isinstance(dependents, tuple):  # a few (see TaskHandle.__init__)
                upstream._dependents = tuple([d for d in dependents if d is not self]) or None
            elif dependents is not None:
                dependents.pop(self, None)
                if not dependents:  # (a dict never shrinks: let a big empty one go)
                    upstream._dependents = None
        else:
            stop_waiting_for_foreign(fut, self)


def foreign_done(self: TaskHandle[Any], fut: asyncio.Future[Any]) -> None:
    """A plain asyncio future this handle waits for is done."""
    if self._phase != WAITING:
        return
    if fut.cancelled() or _exception(fut) is not None:
        self._trouble = True
        self._ready()
        return
    self._pending -= 1
    if not self._pending:
        row = self._row
        if row != NONE:
            self._run._rows.cells[8 * row + READY] = _now()  # type: ignore[union-attr]
        self._ready()


def cancelled_before_start(self: TaskHandle[Any]) -> None:
    """Cancelled before its first step with an upstream's failure in hand: the engine
    read that failure (so asyncio will not report it); make sure it is reported."""
    for fut in self._deps or ():
        if is_done(fut) and not fut.cancelled():
            exc = _stored_error(fut)
            if exc is not None and not is_handled(exc):
                log_failure(root_of(exc))
