"""``TaskHandle``: the asyncio task behind one call of an aiodag task — the hot path.

asyncio is the scheduler; a handle adds only what a DAG needs on top of it:

* **Start only when ready.**  A handle whose upstreams have not all finished is not yet
  an asyncio task at all: it is an :class:`asyncio.Task` object whose ``Task.__init__``
  has not run, so it costs no event-loop step and no coroutine while it waits.  Its
  upstreams count down on it as they finish (``_pending``); the last one starts it.
  Then, and only then, the body is called with the upstreams' results and becomes the
  task's coroutine: no wrapper coroutine, no future to wait on.  On Python 3.12+ the
  engine starts it eagerly (``eager_start``, as :func:`asyncio.eager_task_factory`
  does): its body runs at once, inside the upstream's settling, up to its first
  suspension — no user code runs in between, so only the engine sees the difference,
  one loop step sooner.  A task the user's code calls with everything ready starts as
  any asyncio task does, on a later step (eagerly if the loop's task factory is eager).
* Until it starts, the asyncio methods of a handle answer for the pending task it
  stands for (:mod:`aiodag.unstarted`); asyncio's own would fail on it.
* It never awaits an upstream, so cancelling a task can never reach an upstream it
  shares with others.  If an upstream failed or was cancelled, the body never runs:
  the handle ends with :class:`~aiodag.UpstreamError` or cancelled.
* Its end is settled by a done-callback (:mod:`aiodag.ending`): records, failures,
  dependents, sinks.  Reporting costs nothing unless a run or a sink is there.
* The engine holds a strong reference until it finishes, since asyncio keeps only weak
  ones and a fire-and-forget task could otherwise vanish mid-run.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import sys
import time
import types
from asyncio import format_helpers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import sinks, starting, waiting
from .deps import ALL_FUTURES, ArgPlan
from .errors import UpstreamError
from .events import TaskStatus
from .foreign import wait_for_foreign
from .introspection import ENGINE_DIR
from .keepalive import _ALIVE, alive_handles, is_eager
from .received import ReceivedFace
from .reporting import report_created
from .rows import NONE, STATUS, STATUSES
from .runs import _current_run
from .sinks import SinkSlot
from .starting import EAGER
from .state import SETTLED, WAITING
from .state import cancelled as _cancelled
from .state import done as _done
from .state import exception as _exception
from .state import stored_error as _stored_error
from .unstarted import UnstartedFace

if TYPE_CHECKING:
    from .decorator import TaskFunction
    from .runs import Run

__all__ = ["TaskHandle"]

T = TypeVar("T")

_next_id = 0


class TaskHandle(UnstartedFace, ReceivedFace[T], asyncio.Task[T], Generic[T]):
    """The result of calling a task: an :class:`asyncio.Task` that knows its place in the DAG.

    Await it (any number of times), gather it, shield it, cancel it; pass it to other
    tasks to make them depend on it.  ``id`` is unique in the process; ``name`` is the
    task's name.
    """

    # The engine's hot path (see bench/bench_engine.py): few slots, set only where used.
    __slots__ = (
        "_args",       # the call, kept while waiting for upstreams (then dropped)
        "_body",       # the body's coroutine or executor call, when observed
        "_context",
        "_created_at",  # debug mode: where the call was made (while waiting)
        "_dependents",
        "_deps",       # the upstreams, while any of them is unfinished
        "_early",      # done-callbacks added before the start (and a set_name)
        "_end_ns",
        "_home",       # the loop
        "_kwargs",     # (as _args)
        "_pending",    # upstreams not finished yet
        "_phase",
        "_plan",       # (as _args)
        "_received",
        "_row",        # its row in its run's record (aiodag.rows), or NONE
        "_run",
        "_sinks",
        "_spec",
        "_trouble",    # an upstream failed or was cancelled
        "_waiter",     # while waiting for a slot (aiodag.limits)
        "id",
    )

    _phase: int
    _home: asyncio.AbstractEventLoop
    _context: contextvars.Context | None
    _early: list[tuple[Any, Any]] | None  # (fn, context), or (None, name)
    _spec: TaskFunction[T]
    _run: Run | None
    _row: int
    _received: list[BaseException] | None
    _dependents: tuple[TaskHandle[Any], ...] | dict[TaskHandle[Any], None] | None
    _deps: Sequence[asyncio.Future[Any]] | None
    _trouble: bool
    _pending: int
    _body: Any
    _end_ns: int
    _waiter: asyncio.Future[None] | None

    def __init__(
        self,
        spec: TaskFunction[T],
        loop: asyncio.AbstractEventLoop,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        plan: ArgPlan | None,
        context: contextvars.Context | None = None,
    ) -> None:
        global _next_id
        _next_id += 1
        self.id = _next_id
        self._spec = spec
        self._phase = WAITING
        self._home = loop
        self._early = None
        self._dependents = None
        self._row = NONE
        self._body = None
        self._received = None
        self._end_ns = 0

        # Dependencies, each future once: data first in argument order, then exogenous.
        deps: Sequence[asyncio.Future[Any]]
        if plan is not None:
            deps = args if plan is ALL_FUTURES else plan.futures
            n = len(deps)
            if n > 1 and (deps[0] is deps[1] if n == 2 else len(set(deps)) < n):
                deps = list(dict.fromkeys(deps))
            if spec.exogenous:
                deps = list(dict.fromkeys([*deps, *spec.exogenous]))
        else:
            deps = list(spec.exogenous)

        run = (context.get(_current_run, None) if context is not None
               else _current_run.get())
        if run is not None and (run._closed or run._loop is not loop):
            # A context that outlived its run (that run's record is final), or one carried
            # to another loop (a worker thread running its own): not that run's task.
            run = None
        self._run = run
        self._sinks: tuple[SinkSlot, ...] = run._slots if run is not None else sinks._global_slots

        pending = 0
        trouble = False
        self._deps = deps
        for fut in deps:
            if type(fut) is TaskHandle or isinstance(fut, TaskHandle):
                if fut._home is not loop:
                    self._foreign_loop(fut)
                if fut._phase == WAITING or not _done(fut):
                    # The upstream counts down on its dependents when it ends.  A few are
                    # a tuple (the least memory: most tasks have one or two); more, a
                    # dict (ordered, O(1) removal), so that a dependent ending first
                    # leaves at once however many there are.
                    pending += 1
                    dependents = fut._dependents
                    if dependents is None:
                        fut._dependents = (self,)
                    elif isinstance(dependents, tuple):
                        grown = (*dependents, self)
                        fut._dependents = grown if len(grown) <= _FEW else dict.fromkeys(grown)
                    else:
                        dependents[self] = None
                elif _cancelled(fut) or _stored_error(fut) is not None:
                    trouble = True
            elif fut.get_loop() is not loop:
                self._foreign_loop(fut)
            elif fut.done():
                if fut.cancelled() or _exception(fut) is not None:
                    trouble = True
            else:
                pending += 1
                wait_for_foreign(fut, self)
        self._pending = pending
        self._trouble = trouble

        if run is not None or self._sinks:
            # Before the asyncio task exists: a sink that raises (even SystemExit) leaves
            # no half-created task behind.
            try:
                report_created(self, run, args, kwargs, plan, deps)
            except BaseException:
                self._unregister()
                self._phase = SETTLED  # never made: nothing to report when it goes
                raise

        alive = getattr(loop, _ALIVE, None)
        if alive is None:
            alive = alive_handles(loop)
        alive.add(self)
        if pending and not trouble:
            # Not ready: keep the call (and a copy of the caller's context, taken now as
            # asyncio would) until the last upstream ends.
            self._args = args
            self._kwargs = kwargs
            self._plan = plan
            self._created_at = _creation_stack() if loop.get_debug() else None
            self._context = context if context is not None else contextvars.copy_context()
            if _register_task is not None:
                _register_task(self)  # a pending task: asyncio.all_tasks() lists it
            return
        # Its own copy of the caller's context, as asyncio would take: the body's steps
        # and the engine's done-callback (the sinks) run in this one context.
        self._context = context if context is not None else contextvars.copy_context()
        try:
            # Called by the user's code, a ready task starts as asyncio's tasks do: on a
            # later loop step, unless the loop's task factory is an eager one.
            self._start(args, kwargs, plan, EAGER and is_eager(loop))
        except BaseException:
            if self._phase != WAITING and _ended(self):
                # It ran and ended: a KeyboardInterrupt from its first step (an eager
                # task factory).  A task after all, settled as any other.
                raise
            alive.discard(self)
            self._unregister()
            if run is not None and self._row != NONE:  # (added by report_created)
                run._discard(self._row)
            raise
        if self._source_traceback:  # debug mode: where made
            self._trim_source_traceback()

    @property
    def _aiodag_ref(self) -> str:
        """How this handle appears inside labels (see aiodag.labels)."""
        return f"{self._spec.name}#{self.id}"

    @property
    def name(self) -> str:
        """The task's name: the function's ``__name__`` unless ``task(fn, name=...)``."""
        return self._spec.name

    @property
    def status(self) -> TaskStatus:
        """Where the task is now (derived from the asyncio task's own state)."""
        if self._phase == WAITING or not _done(self):
            if self._phase == WAITING:
                return PENDING
            if getattr(self, "_waiter", None) is not None:
                return PENDING  # waiting for a slot (aiodag.limits)
            row = self._row
            if row != NONE:
                return STATUSES[self._run._rows.cells[8 * row + STATUS]]  # type: ignore[union-attr]
            coro = self._coro  # type: ignore[attr-defined]  # (see AsyncioFace.get_coro)
            if type(coro) is types.CoroutineType and (
                    inspect.getcoroutinestate(coro) == inspect.CORO_CREATED):
                return PENDING  # an asyncio task, its first step yet to come
            return RUNNING
        if _cancelled(self):
            return CANCELLED
        exc = _stored_error(self)
        if exc is None:
            return OK
        return UPSTREAM_FAILED if isinstance(exc, UpstreamError) else FAILED

    # -- starting (aiodag.starting) -----------------------------------------------------

    _start = starting.start
    _take_early = starting.take_early
    _add_callbacks = starting.add_callbacks
    _ready = starting.ready

    # -- waiting for upstreams (aiodag.waiting) ---------------------------------------

    _foreign_loop = waiting.foreign_loop
    _stop_for_upstream = waiting.stop_for_upstream
    _unregister = waiting.unregister
    _foreign_done = waiting.foreign_done
    _cancelled_before_start = waiting.cancelled_before_start

# Module-level names: the hot path reads these faster than class attributes.
PENDING, RUNNING, OK = TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.OK
FAILED, CANCELLED = TaskStatus.FAILED, TaskStatus.CANCELLED
UPSTREAM_FAILED = TaskStatus.UPSTREAM_FAILED
# asyncio's own Task methods, called directly (see aiodag.state).
_init_task = asyncio.Task.__init__
_add_done_callback = asyncio.Future.add_done_callback
_now = time.monotonic_ns
_FEW = 8
"""Dependents an upstream keeps in a tuple; with more, a dict (see ``__init__``)."""
_register_task = getattr(asyncio, "_register_task", None)
"""asyncio's hook for tasks it does not create itself (all_tasks() lists them; asyncio.run
cancels them at its end).  Not in asyncio's documentation, but exported for other task
implementations since 3.7; without it, handles still waiting for upstreams are missing
from all_tasks()."""


def _creation_stack() -> Any:
    stack = format_helpers.extract_stack(sys._getframe(2))
    while stack and stack[-1].filename.startswith(ENGINE_DIR):
        del stack[-1]
    return stack


def _ended(handle: TaskHandle[Any]) -> bool:
    """The handle is an asyncio task that is done (``False`` if ``Task.__init__``
    never completed on it)."""
    try:
        return _done(handle)
    except RuntimeError:  # "uninitialized Future object"
        return False
