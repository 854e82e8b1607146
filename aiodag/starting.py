"""Starting a handle: from a pending task to an asyncio task running its body.

A handle starts when its last upstream has ended (:func:`ready`, called by
:mod:`aiodag.ending`), or at its call if nothing was left to wait for.  The body is
called with the upstreams' results then, and becomes the task's own coroutine through
``Task.__init__`` — wrapped only when a run or a sink must see its start and end
(:func:`aiodag.reporting.observed`) or execution controls drive it
(:mod:`aiodag.controls`).  On Python 3.12+ a handle the engine starts runs eagerly
(``eager_start``), inside the upstream's settling: no user code runs in between, so
only the engine sees the difference, one loop step sooner.

These are methods of :class:`~aiodag.TaskHandle` (the class binds them), kept apart
from the class so that one module holds the hot path of a start.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

from . import controls as _controls
from . import options as _options
from .bodies import body_of, resolved
from .ending import settle, settle_now
from .reporting import observed
from .rows import NONE
from .state import STARTED, WAITING
from .state import done as _done

if TYPE_CHECKING:
    from .deps import ArgPlan
    from .handle import TaskHandle

__all__ = ["EAGER", "add_callbacks", "ready", "start", "take_early"]

EAGER = sys.version_info >= (3, 12)
_EAGER_START: dict[str, Any] = {"eager_start": True}  # (a 3.12+ keyword: typed for 3.11)
_MAX_EAGER_DEPTH = 40
"""Eager starts nest when a body calls ready tasks at once (a recursive pipeline):
past this depth a handle starts on the next loop step instead, so the stack stays
bounded however deep the calls go."""
_eager_depth = 0
# (A plain global, saved and restored around each eager start rather than counted up
# and down, so threads running loops of their own can at worst see each other's depth
# for a moment, never leave it wrong.)

# asyncio's own Task methods, called directly (see aiodag.state).
_init_task = asyncio.Task.__init__
_add_done_callback = asyncio.Future.add_done_callback


def start(self: TaskHandle[Any], args: tuple[Any, ...], kwargs: dict[str, Any],
           plan: ArgPlan | None, eager: bool) -> None:
    """Become an asyncio task running the body (or ending at once, if an upstream
    failed): the upstreams have all ended, or one of them went wrong."""
    spec = self._spec
    if self._trouble:
        coro = self._stop_for_upstream()
    else:
        self._deps = None  # every upstream has ended: none holds this handle any more
        if _options.in_use and _controls.applies(self):
            # Options in use (retries, timeout, limits): aiodag.controls takes the
            # slots, starts the body and runs its attempts.
            coro = _controls.driven(self, resolved, args, kwargs, plan)
        elif self._row == NONE and not self._sinks:
            coro = body_of(self, args, kwargs, plan)
        else:
            # The body is made when `observed` begins: a task cancelled before its
            # first step leaves no body behind, never awaited.
            coro = observed(self, args, kwargs, plan)
    self._phase = STARTED
    loop = self._home
    context = self._context
    early = self._early
    name = None
    if early is not None:  # (rare: callbacks or a name given before the start)
        early, name = self._take_early()
    global _eager_depth
    depth = _eager_depth
    if eager and depth < _MAX_EAGER_DEPTH:
        # (asyncio starts it eagerly only if the loop is running.)
        _eager_depth = depth + 1
        try:
            _init_task(self, coro, loop=loop, name=name, context=context,
                       **_EAGER_START)
        except BaseException:
            # SystemExit or KeyboardInterrupt from the body's first step: asyncio
            # ended the task and re-raised; its end must still be settled.
            if _done(self):
                self._add_callbacks(early)
            raise
        finally:
            _eager_depth = depth
        if _done(self) and context is not spec.context and not early:
            # It ran to its end already: settle it now rather than a loop step
            # later (in its own context, which nothing else can have entered).
            settle_now(self)
            return
    else:
        _init_task(self, coro, loop=loop, name=name, context=context)
    self._add_callbacks(early)


def take_early(self: TaskHandle[Any]) -> tuple[list[tuple[Any, Any]] | None, str | None]:
    """At the start: the done-callbacks added before it, and a name set before it.

    Without a name, asyncio gets none: get_name() answers with the task's `name#id`
    (making that string for every task costs more than the rest of its naming).
    From now on only the name lives in ``_early``, for get_name(); the callbacks
    are the caller's to hand to asyncio (``_add_callbacks``).
    """
    early = self._early
    name = early.pop(0)[1] if early is not None and early[0][0] is None else None
    self._early = None if name is None else [(None, name)]
    return early, name


def add_callbacks(self: TaskHandle[Any], early: list[tuple[Any, Any]] | None) -> None:
    """Give asyncio the task's done-callbacks: the engine's first, then any added
    before the start."""
    context = self._context
    _add_done_callback(self, settle, context=context)
    for fn, ctx in early or ():
        _add_done_callback(self, fn, context=ctx)


def ready(self: TaskHandle[Any]) -> None:
    """The last upstream ended (or one went wrong): start now."""
    if self._phase != WAITING:
        return  # cancelled meanwhile (by a body that ran first): started already
    args, kwargs, plan, creation_tb = self._args, self._kwargs, self._plan, self._created_at
    del self._args, self._kwargs, self._plan, self._created_at
    # Eager only in a context of its own: a context shared with other tasks
    # (task(fn, context=ctx)) may be the one the upstream's settling runs in, and a
    # context cannot be entered twice.
    self._start(args, kwargs, plan, EAGER and self._context is not self._spec.context)
    if creation_tb is not None and self._source_traceback:
        self._source_traceback[:] = creation_tb
