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
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import controls as _controls
from . import sinks
from .bodies import body_of, is_done, never_run, resolved, upstream_trouble
from .deps import ALL_FUTURES, ArgPlan
from .ending import settle, settle_now
from .errors import UpstreamError, is_handled, log_failure, root_of
from .events import TaskStatus
from .foreign import stop_waiting_for_foreign, wait_for_foreign
from .introspection import ENGINE_DIR
from .keepalive import _ALIVE, alive_handles, is_eager
from .reporting import observed, report_created
from .rows import NONE, READY, STATUS, STATUSES
from .runs import _current_run
from .sinks import SinkSlot
from .state import SETTLED, STARTED, WAITING
from .state import cancelled as _cancelled
from .state import done as _done
from .state import exception as _exception
from .state import result as _result
from .state import stored_error as _stored_error
from .unstarted import UnstartedFace

if TYPE_CHECKING:
    from .decorator import TaskFunction
    from .runs import Run

__all__ = ["TaskHandle"]

T = TypeVar("T")

_next_id = 0


_EAGER = sys.version_info >= (3, 12)
_EAGER_START: dict[str, Any] = {"eager_start": True}  # (a 3.12+ keyword: typed for 3.11)
_MAX_EAGER_DEPTH = 40
"""Eager starts nest when a body calls ready tasks at once (a recursive pipeline):
past this depth a handle starts on the next loop step instead, so the stack stays
bounded however deep the calls go."""
_eager_depth = 0
# (A plain global, saved and restored around each eager start rather than counted up
# and down, so threads running loops of their own can at worst see each other's depth
# for a moment, never leave it wrong.)


class TaskHandle(UnstartedFace, asyncio.Task[T], Generic[T]):
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
        "_waiter",     # while waiting for a slot (aiodag.controls)
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
    _dependents: dict[TaskHandle[Any], None] | None
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
                    # The upstream counts down on its dependents when it ends: a dict
                    # (ordered, O(1) removal), so a dependent that ends first leaves at once.
                    pending += 1
                    if fut._dependents is None:
                        fut._dependents = {self: None}
                    else:
                        fut._dependents[self] = None
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
            self._start(args, kwargs, plan, _EAGER and is_eager(loop))
        except BaseException:
            alive.discard(self)
            self._unregister()
            if run is not None and self._row != NONE:  # (added by report_created)
                run._discard(self._row)
            raise
        if self._source_traceback:  # type: ignore[attr-defined]  # debug mode: where made
            self._trim_source_traceback()

    def _foreign_loop(self, fut: asyncio.Future[Any]) -> None:
        self._unregister()  # undo what this loop registered so far
        self._phase = SETTLED  # never made: nothing to report when it goes
        raise ValueError(
            f"task {self._spec.name!r} got {fut!r}, a future of another event loop; "
            "a dependency must belong to the loop the task is called on"
        )

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
                return PENDING  # waiting for a slot (aiodag.controls)
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

    # -- starting ---------------------------------------------------------------------

    def _start(self, args: tuple[Any, ...], kwargs: dict[str, Any],
               plan: ArgPlan | None, eager: bool) -> None:
        """Become an asyncio task running the body (or ending at once, if an upstream
        failed): the upstreams have all ended, or one of them went wrong."""
        spec = self._spec
        if self._trouble:
            coro = self._stop_for_upstream()
        else:
            self._deps = None  # every upstream has ended: none holds this handle any more
            if _controls.in_use and _controls.applies(self):
                # Options in use (retries, timeout, limits): aiodag.controls takes the
                # slots, starts the body and runs its attempts.
                coro = _controls.driven(self, resolved, args, kwargs, plan)
            elif self._row == NONE and not self._sinks:
                coro = body_of(self, args, kwargs, plan)
            else:
                # The body is made when `observed` begins: a task cancelled before its
                # first step leaves no body behind, never awaited.
                coro = observed(self, body_of, self, args, kwargs, plan)
        self._phase = STARTED
        loop = self._home
        context = self._context
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

    def _take_early(self) -> tuple[list[tuple[Any, Any]] | None, str | None]:
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

    def _add_callbacks(self, early: list[tuple[Any, Any]] | None) -> None:
        """Give asyncio the task's done-callbacks: the engine's first, then any added
        before the start."""
        context = self._context
        _add_done_callback(self, settle, context=context)
        for fn, ctx in early or ():
            _add_done_callback(self, fn, context=ctx)

    def _ready(self) -> None:
        """The last upstream ended (or one went wrong): start now."""
        if self._phase != WAITING:
            return  # cancelled meanwhile (by a body that ran first): started already
        args, kwargs, plan, creation_tb = self._args, self._kwargs, self._plan, self._created_at
        del self._args, self._kwargs, self._plan, self._created_at
        # Eager only in a context of its own: a context shared with other tasks
        # (task(fn, context=ctx)) may be the one the upstream's settling runs in, and a
        # context cannot be entered twice.
        self._start(args, kwargs, plan, _EAGER and self._context is not self._spec.context)
        if creation_tb is not None and self._source_traceback:  # type: ignore[attr-defined]
            self._source_traceback[:] = creation_tb  # type: ignore[attr-defined]

    def _stop_for_upstream(self) -> Any:
        deps = self._deps or ()
        self._unregister()
        self._deps = deps  # (kept: read if this task is cancelled before its first step)
        return upstream_trouble(self, deps)

    # -- asyncio's Task API, where a handle differs ----------------------------------

    def cancel(self, msg: Any = None) -> bool:
        """Cancel this task only: upstreams it shares with other tasks run on."""
        if self._phase == WAITING:
            # Not started: it never will.  It becomes a task cancelled before its first
            # step, so it ends as any cancelled asyncio task does.
            self._unregister()
            created_at = self._created_at
            del self._args, self._kwargs, self._plan, self._created_at
            self._phase = STARTED
            early, name = self._take_early()
            _init_task(self, never_run(), loop=self._home, name=name,
                       context=self._context)
            if created_at is not None and self._source_traceback:  # type: ignore[attr-defined]
                self._source_traceback[:] = created_at  # type: ignore[attr-defined]
            self._add_callbacks(early)
        return super().cancel(msg)

    def __await__(self) -> Generator[Any, None, T]:
        if self._phase == WAITING:
            yield from self._wait_for_start()
        waiting = _task_await(self)
        # Not kept in this frame: a traceback through it must not keep the handle alive.
        del self
        try:
            return (yield from waiting)
        except Exception as exc:
            _received(exc)  # the awaiting code has the failure now (errors.is_handled)
            raise

    __iter__ = __await__

    def result(self) -> T:
        """As :meth:`asyncio.Task.result`."""
        self._must_have_started()
        try:
            return _result(self)
        except BaseException as exc:
            del self  # (as in __await__: a traceback through here keeps no handle)
            if isinstance(exc, Exception):
                _received(exc)
            raise

    def exception(self) -> BaseException | None:
        """As :meth:`asyncio.Task.exception`."""
        self._must_have_started("Exception")
        exc = _exception(self)
        if exc is not None:
            _received(exc)
        return exc

    def __del__(self) -> None:
        if self._phase != WAITING:
            _task_del(self)  # asyncio's own: "Task was destroyed but it is pending!"
        else:
            # Never started, and dropped (its loop was closed and let go): say so as
            # asyncio says it of its own pending tasks (whose finalizer would crash on
            # a task not yet initialised).
            self._home.call_exception_handler({
                "message": "Task was destroyed but it is pending!",
                "task": self,
            })

    # -- bookkeeping ------------------------------------------------------------------

    def _unregister(self) -> None:
        deps, self._deps = self._deps, None
        for fut in deps or ():
            if isinstance(fut, TaskHandle):
                dependents = fut._dependents
                if dependents is not None:
                    dependents.pop(self, None)
            else:
                stop_waiting_for_foreign(fut, self)

    def _foreign_done(self, fut: asyncio.Future[Any]) -> None:
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

    def _cancelled_before_start(self) -> None:
        """Cancelled before its first step with an upstream's failure in hand: the engine
        read that failure (so asyncio will not report it); make sure it is reported."""
        for fut in self._deps or ():
            if is_done(fut) and not fut.cancelled():
                exc = _stored_error(fut)
                if exc is not None and not is_handled(exc):
                    log_failure(root_of(exc))


# Module-level names: the hot path reads these faster than class attributes.
PENDING, RUNNING, OK = TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.OK
FAILED, CANCELLED = TaskStatus.FAILED, TaskStatus.CANCELLED
UPSTREAM_FAILED = TaskStatus.UPSTREAM_FAILED
# asyncio's own Task methods, called directly (see aiodag.state).
_init_task = asyncio.Task.__init__
_add_done_callback = asyncio.Future.add_done_callback
_task_await = asyncio.Future.__await__
_task_del = asyncio.Task.__del__
_now = time.monotonic_ns
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


def _received(error: BaseException) -> None:
    """A failure reached code that awaited a handle or read its result: note it on the
    task body (or Run block) running that code; if it ends normally, it handled it."""
    loop = asyncio._get_running_loop()  # read outside any loop too (after it ran)
    if loop is None:
        return
    current = asyncio.current_task(loop)
    if isinstance(current, TaskHandle):
        if current._received is None:
            current._received = [error]
        else:
            current._received.append(error)
        return
    run = _current_run.get()
    if run is not None and current is not None and run._owner is current:
        run._received.append(error)
