"""``TaskHandle``: the asyncio task behind one call of an aiodag task.

asyncio is the scheduler; a handle only adds what a DAG needs on top of it:

* It waits for its dependencies through one private future that done-callbacks on the
  upstreams complete.  It never awaits an upstream directly, because cancelling a task
  cancels the future it is waiting on: awaiting directly (as ``gather`` does) would let
  a cancelled dependent cancel an upstream it shares with others.
* If an upstream failed or was cancelled, the function never runs: the handle ends
  with :class:`~aiodag.UpstreamError` or cancelled.
* It reports its life to the run and the sinks, from inside its own asyncio task.
* The engine holds a strong reference until it finishes, since asyncio keeps only weak
  ones and a fire-and-forget task could otherwise vanish mid-run.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import run as _run
from . import sinks
from .deps import ArgPlan, resolve
from .errors import UpstreamError, is_task_failure, mark_task_failure
from .events import (
    Dependency,
    DependencyKind,
    TaskCreated,
    TaskFinished,
    TaskStarted,
    TaskStatus,
)
from .labels import format_call, short_repr
from .run import _current_run
from .sinks import SinkSlot, emit

if TYPE_CHECKING:
    from .decorator import TaskFunction

__all__ = ["TaskHandle"]

T = TypeVar("T")

logger = logging.getLogger("aiodag")

_alive: set[TaskHandle[Any]] = set()
"""Strong references to every unfinished handle (asyncio keeps only weak ones)."""

_next_id = 0


# A handle's phase: the coroutine has not begun / is waiting or running / has ended /
# was cancelled before it began (so it never will).
_NEW, _BEGUN, _ENDED, _CANCELLED_NEW = 0, 1, 2, 3


class TaskHandle(asyncio.Task[T], Generic[T]):
    """The result of calling a task: an :class:`asyncio.Task` that knows its place in the DAG.

    Await it (any number of times), gather it, shield it, cancel it; pass it to other
    tasks to make them depend on it.  ``id`` is unique in the process; ``name`` is the
    task's name.
    """

    # This class is the engine's hot path, written for speed where that matters (see
    # bench/bench_engine.py): few slots, and the call's arguments live in the frame
    # of `_main` rather than on the handle, so they are dropped with it.
    __slots__ = (
        "_dependents",
        "_deps",
        "_phase",
        "_record",
        "_run",
        "_sinks",
        "_spec",
        "_trouble",
        "_waiter",
        "_waiting",
        "id",
    )

    def __init__(
        self,
        spec: TaskFunction[T],
        loop: asyncio.AbstractEventLoop,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        plan: ArgPlan | None,
    ) -> None:
        global _next_id
        _next_id += 1
        self.id = task_id = _next_id
        self._spec = spec
        self._phase = _NEW
        self._dependents: list[TaskHandle[Any]] | None = None
        self._record: _run.TaskRecord | None = None

        # Dependencies, each future once: data first in argument order, then exogenous.
        if plan is not None:
            deps = plan.futures
            n = len(deps)
            if n > 1 and (deps[0] is deps[1] if n == 2 else len(set(deps)) < n):
                deps = list(dict.fromkeys(deps))
            if spec.exogenous:
                deps = list(dict.fromkeys([*deps, *spec.exogenous]))
        else:
            deps = list(spec.exogenous)

        run = _current_run.get()
        if run is not None and run._closed:
            run = None  # a context that outlived its run: that run's record is final
        self._run = run
        self._sinks: tuple[SinkSlot, ...] = run._slots if run is not None else sinks._global_slots

        # The future `_main` waits on is made only if it still has to wait when it
        # begins: often the upstreams have finished by then (cheaper that way).
        self._waiter: asyncio.Future[None] | None = None
        self._trouble = False
        self._waiting = waiting = 0
        self._deps: list[asyncio.Future[Any]] | None = deps
        for fut in deps:
            if fut.get_loop() is not loop:
                self._unregister()  # undo what this loop registered so far
                raise ValueError(
                    f"task {spec.name!r} got {fut!r}, a future of another event loop; "
                    "a dependency must belong to the loop the task is called on"
                )
            if fut.done():
                if fut.cancelled() or fut.exception() is not None:
                    self._trouble = True
            elif isinstance(fut, TaskHandle):
                # Upstream handles notify their dependents directly when they
                # finish: no done-callback, so no extra trip through the loop.
                waiting += 1
                if fut._dependents is None:
                    fut._dependents = [self]
                else:
                    fut._dependents.append(self)
            else:
                waiting += 1
                fut.add_done_callback(self._foreign_done)
        self._waiting = waiting

        super().__init__(self._main(args, kwargs, plan, deps), loop=loop,
                         name=spec.ref_prefix + str(task_id))
        _alive.add(self)
        if run is not None or self._sinks:
            self._report_created(run, args, kwargs, plan, deps)

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
        if not self.done():
            waiting = self._phase in (_NEW, _CANCELLED_NEW) or self._waiter is not None
            return PENDING if waiting else RUNNING
        if self.cancelled():
            return CANCELLED
        exc = self.exception()
        if exc is None:
            return OK
        return UPSTREAM_FAILED if isinstance(exc, UpstreamError) else FAILED

    def __repr__(self) -> str:
        return f"<TaskHandle {self._aiodag_ref} {self.status}>"

    def cancel(self, msg: Any = None) -> bool:
        """Cancel this task only: upstreams it shares with other tasks run on."""
        if self._phase == _NEW and not self.done():
            # Cancelled before its first step, the coroutine never runs at all, so the
            # end of this task is reported from a done-callback instead (rare, so it
            # costs nothing in the common case).
            self._phase = _CANCELLED_NEW
            self.add_done_callback(self._ended_unstarted)
        return super().cancel(msg)

    # -- the life of the task ---------------------------------------------------------

    async def _main(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        plan: ArgPlan | None,
        deps: list[asyncio.Future[Any]],
    ) -> T:
        self._phase = _BEGUN
        if self._waiting and not self._trouble:
            self._waiter = self.get_loop().create_future()
            try:
                await self._waiter
            except asyncio.CancelledError:
                self._end(CANCELLED, None, None)
                raise
            self._waiter = None
        if self._trouble:
            self._stop_for_upstream(deps)
        self._deps = None  # every upstream has ended: none holds this handle any more
        if plan is not None:
            if plan.all_futures:
                args = map(_result, args)  # type: ignore[assignment]
            else:
                args, kwargs = resolve(plan, args, kwargs)
        del deps, plan  # the handle keeps neither its upstreams nor their results
        record = self._record
        if record is not None or self._sinks:
            ts = time.monotonic_ns()
            if record is not None:
                record.status = RUNNING
                record.started_ns = ts
            if self._sinks:
                emit(self._sinks, TaskStarted(self.id, ts))
        spec = self._spec
        try:
            if not spec.is_async:
                result: T = await self._in_executor(spec, args, kwargs)
            elif kwargs:
                result = await spec.fn(*args, **kwargs)
            else:
                result = await spec.fn(*args)
        except asyncio.CancelledError:
            self._end(CANCELLED, None, None)
            raise
        except UpstreamError as exc:
            # The body awaited a task that did not run: it did not run on for the same
            # reason, so it is not a failure of its own.
            del args, kwargs  # the traceback keeps this frame: not the argument values
            self._end(UPSTREAM_FAILED, exc, exc.upstream_id)
            raise
        except BaseException as exc:
            del args, kwargs  # (as above)
            self._end(FAILED, exc, None)
            raise
        self._end(OK, None, None)
        return result

    def _end(
        self, status: TaskStatus, error: BaseException | None, failed_upstream: int | None
    ) -> None:
        """Report the end of the task and wake its dependents.

        Called while the task is finishing: the coroutine returns or raises right after,
        within the same step, so everything woken from here sees the task done.
        """
        self._phase = _ENDED
        if self._deps is not None:
            # Ended before its upstreams did (cancelled, or another upstream failed):
            # they must not keep it, and what it holds, alive until they end.
            self._unregister()
        record = self._record
        if record is not None or self._sinks:
            ts = time.monotonic_ns()
            if record is not None:
                record.status = status
                record.finished_ns = ts
            if self._sinks:
                emit(self._sinks, TaskFinished(self.id, status, error, failed_upstream, ts))
        if error is not None:
            self._ended_with(status, error)
            # The error is reported (logged at its source, carried by dependents and
            # by the run), so asyncio need not log "exception was never retrieved".
            self.add_done_callback(_mark_retrieved)
        dependents = self._dependents
        if dependents is not None:
            self._dependents = None
            if status is OK:
                for dependent in dependents:
                    dependent._waiting -= 1
                    if not dependent._waiting:
                        dependent._wake()
            else:
                for dependent in dependents:
                    # It will not run: settle it at once.
                    dependent._trouble = True
                    dependent._wake()
        _alive.discard(self)
        run = self._run
        if run is not None:
            run._unfinished -= 1
            if not run._unfinished:
                run._all_done()

    def _ended_with(self, status: TaskStatus, error: BaseException) -> None:
        root = status is FAILED and not is_task_failure(error)
        if root:
            # Logged here, once, at the source; dependents only pass it on, and a body
            # that re-raises another task's error (after awaiting it) does not log it.
            logger.error("task %s#%s failed", self.name, self.id, exc_info=error)
            mark_task_failure(error, self._aiodag_ref)
        record = self._record
        if record is not None:
            assert self._run is not None
            self._run._failed(record, error, root=root)

    def _unregister(self) -> None:
        deps, self._deps = self._deps, None
        for fut in deps or ():
            if isinstance(fut, TaskHandle):
                dependents = fut._dependents
                if dependents is not None and self in dependents:
                    dependents.remove(self)
            else:
                fut.remove_done_callback(self._foreign_done)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _foreign_done(self, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self._trouble = True
            self._wake()
        else:
            self._waiting -= 1
            if not self._waiting:
                self._wake()

    def _ended_unstarted(self, _: asyncio.Future[Any]) -> None:
        if self._phase != _ENDED:
            self._end(CANCELLED, None, None)

    async def _in_executor(self, spec: TaskFunction[T], args: tuple[Any, ...],
                           kwargs: dict[str, Any]) -> T:
        if isinstance(spec.executor, ProcessPoolExecutor):
            # Another process: nothing of this one's context can go along (or be pickled).
            call = functools.partial(spec.fn, *args, **kwargs)
        else:
            # Carry the context (and so the current span) into the worker thread.
            call = functools.partial(_call_in_context, contextvars.copy_context(), spec.fn,
                                     args, kwargs)
        result = await self.get_loop().run_in_executor(spec.executor, call)
        if inspect.isawaitable(result):
            # A plain function that hands back a coroutine (an async function behind a
            # plain decorator, a lambda): what it means is the coroutine's result.
            result = await result
        return result  # type: ignore[no-any-return]

    def _stop_for_upstream(self, deps: list[asyncio.Future[Any]]) -> None:
        """End the task without running it: an upstream failed or was cancelled."""
        cancelled: asyncio.Future[Any] | None = None
        for fut in deps:
            if not fut.done():
                continue
            if fut.cancelled():
                cancelled = cancelled or fut
                continue
            exc = fut.exception()
            if exc is not None:
                root = exc.root if isinstance(exc, UpstreamError) else _ref(fut)
                upstream_id = fut.id if isinstance(fut, TaskHandle) else None
                error = UpstreamError(self._aiodag_ref, _ref(fut), upstream_id, root)
                self._end(UPSTREAM_FAILED, error, upstream_id)
                raise error from exc
        assert cancelled is not None
        self._end(CANCELLED, None, None)
        raise asyncio.CancelledError(
            f"{self._aiodag_ref} did not run: its upstream {_ref(cancelled)} was cancelled"
        )

    # -- reporting --------------------------------------------------------------------

    def _report_created(
        self,
        run: _run.Run | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        plan: ArgPlan | None,
        deps: list[asyncio.Future[Any]],
    ) -> None:
        ts = time.monotonic_ns()
        name = self._spec.name
        # The task whose body is calling (if any): this one was spawned by it.
        caller = asyncio.current_task()
        caller_id = caller.id if isinstance(caller, TaskHandle) else None
        if deps:
            if plan is not None and plan.all_futures and not self._spec.exogenous:
                # Every dependency is a data argument (the common case): no lookups.
                dependencies = tuple([
                    _new_tuple(Dependency, (fut.id, DATA))
                    for fut in deps if isinstance(fut, TaskHandle)
                ])
            else:
                data = plan.futures if plan is not None else ()
                dependencies = tuple([
                    _new_tuple(Dependency, (fut.id, DATA if fut in data else EXOGENOUS))
                    for fut in deps if isinstance(fut, TaskHandle)
                ])
        else:
            dependencies = ()
        if not self._sinks:
            # Only the run's record needs a label, and only when someone reads it:
            # keep the argument reprs (upstreams as their records) and build it then.
            parts = tuple(map(_label_part, args))
            kwparts = tuple([(k, _label_part(v)) for k, v in kwargs.items()]) if kwargs else ()
            assert run is not None
            self._record = run._add(self.id, name, (parts, kwparts), dependencies, ts,
                                   caller_id)
            return
        arg_reprs = tuple(map(_ref, args))
        kwarg_reprs = tuple([(k, _ref(v)) for k, v in kwargs.items()]) if kwargs else ()
        label = format_call(name, arg_reprs, kwarg_reprs)
        if run is not None:
            self._record = run._add(self.id, name, label, dependencies, ts, caller_id)
        emit(self._sinks, TaskCreated(
            self.id, name, label, run.id if run is not None else None,
            dependencies, arg_reprs, kwarg_reprs, ts, caller_id,
        ))


# Module-level names: the hot path reads these faster than class attributes.
PENDING, RUNNING, OK = TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.OK
FAILED, CANCELLED = TaskStatus.FAILED, TaskStatus.CANCELLED
UPSTREAM_FAILED = TaskStatus.UPSTREAM_FAILED
DATA, EXOGENOUS = DependencyKind.DATA, DependencyKind.EXOGENOUS
_result = asyncio.Future.result
_new_tuple = tuple.__new__  # builds a Dependency without NamedTuple's Python-level __new__


def _call_in_context(context: contextvars.Context, fn: Callable[..., Any],
                     args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return context.run(fn, *args, **kwargs)
    except StopIteration as exc:
        # A future cannot hold a StopIteration (asyncio would leave it pending for
        # ever); turn it into what a coroutine raising it would give (PEP 479).
        raise RuntimeError(f"{getattr(fn, '__name__', fn)!r} raised StopIteration") from exc


def _mark_retrieved(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def _label_part(value: object) -> str | _run.TaskRecord:
    # An upstream of the same run stands as its record, whose name#id the label shows.
    if isinstance(value, TaskHandle):
        return value._record or value._aiodag_ref
    return short_repr(value)


def _ref(value: object) -> str:
    """``name#id`` for a handle (as labels show upstreams), a short repr for the rest."""
    if isinstance(value, TaskHandle):
        return value._aiodag_ref
    return short_repr(value)
