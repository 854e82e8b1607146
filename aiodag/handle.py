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
import inspect
import sys
import time
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import runs as _run
from . import sinks
from .deps import ArgPlan, resolve
from .errors import (
    UpstreamError,
    is_handled,
    is_task_failure,
    log_failure,
    mark_handled,
    mark_passed_on,
    mark_task_failure,
    root_of,
)
from .events import (
    Dependency,
    DependencyKind,
    TaskCreated,
    TaskFinished,
    TaskStarted,
    TaskStatus,
)
from .executor import ExecutorCall
from .foreign import stop_waiting_for_foreign, wait_for_foreign
from .introspection import AsyncioFace
from .keepalive import _ALIVE, _fallback_alive, alive_handles, is_eager
from .labels import format_call, short_repr
from .remote import run_remote  # seam: issue 14
from .runs import _current_run
from .sinks import SinkSlot, emit

if TYPE_CHECKING:
    from .decorator import TaskFunction

__all__ = ["TaskHandle"]

T = TypeVar("T")

_next_id = 0

_HAS_EAGER_START = sys.version_info >= (3, 12)
_EAGER_START: dict[str, Any] = {"eager_start": True}  # (a 3.12+ keyword: typed for 3.11)


# A handle's phase: the coroutine has not begun / is waiting or running / has ended /
# was cancelled before it began (so it never will).
_NEW, _BEGUN, _ENDED, _CANCELLED_NEW = 0, 1, 2, 3


class TaskHandle(AsyncioFace, asyncio.Task[T], Generic[T]):
    """The result of calling a task: an :class:`asyncio.Task` that knows its place in the DAG.

    Await it (any number of times), gather it, shield it, cancel it; pass it to other
    tasks to make them depend on it.  ``id`` is unique in the process; ``name`` is the
    task's name.
    """

    # This class is the engine's hot path, written for speed where that matters (see
    # bench/bench_engine.py): few slots, and the call's arguments live in the frame
    # of `_main` rather than on the handle, so they are dropped with it.
    __slots__ = (
        "_body",
        "_dependents",
        "_deps",
        "_phase",
        "_received",
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
        context: contextvars.Context | None = None,
    ) -> None:
        global _next_id
        _next_id += 1
        self.id = task_id = _next_id
        self._spec = spec
        self._phase = _NEW
        self._dependents: dict[TaskHandle[Any], None] | None = None
        self._record: _run.TaskRecord | None = None
        self._body: Any = None
        self._received: list[BaseException] | None = None

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

        run = (context.get(_current_run, None) if context is not None
               else _current_run.get())
        if run is not None and (run._closed or run._loop is not loop):
            # A context that outlived its run (that run's record is final), or one carried
            # to another loop (a worker thread running its own): not that run's task.
            run = None
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
                if fut.cancelled() or _exception(fut) is not None:
                    self._trouble = True
            elif isinstance(fut, TaskHandle):
                # Upstream handles notify their dependents directly when they
                # finish: no done-callback, so no extra trip through the loop.  A dict
                # (ordered, O(1) removal): a dependent that ends first leaves at once.
                waiting += 1
                if fut._dependents is None:
                    fut._dependents = {self: None}
                else:
                    fut._dependents[self] = None
            else:
                waiting += 1
                wait_for_foreign(fut, self)
        self._waiting = waiting

        # Reported before the asyncio task exists, so that a sink that raises (even
        # SystemExit) leaves no half-created task behind, and an eager start (below)
        # reports its start after its creation.
        if run is not None or self._sinks:
            try:
                self._report_created(run, args, kwargs, plan, deps)
            except BaseException:
                self._unregister()
                raise

        alive = getattr(loop, _ALIVE, None)
        if alive is None:
            alive = alive_handles(loop)
        alive.add(self)
        coro = self._main(args, kwargs, plan, deps)
        try:
            if _HAS_EAGER_START and is_eager(loop):
                super().__init__(coro, loop=loop, name=spec.ref_prefix + str(task_id),
                                 context=context, **_EAGER_START)
            else:
                super().__init__(coro, loop=loop, name=spec.ref_prefix + str(task_id),
                                 context=context)
        except BaseException:
            if self._phase == _NEW:  # not begun (an eager first step ends the task itself)
                coro.close()
                alive.discard(self)
                self._unregister()
                record: _run.TaskRecord | None = getattr(self, "_record", None)
                if record is not None and run is not None:
                    run._discard(record)
            raise
        if self._source_traceback:  # type: ignore[attr-defined]  # debug mode: where made
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
        if not self.done():
            waiting = self._phase in (_NEW, _CANCELLED_NEW) or self._waiter is not None
            return PENDING if waiting else RUNNING
        if self.cancelled():
            return CANCELLED
        exc = _exception(self)
        if exc is None:
            return OK
        return UPSTREAM_FAILED if isinstance(exc, UpstreamError) else FAILED

    # -- asyncio's Task API, where a handle differs ----------------------------------

    def __await__(self) -> Generator[Any, None, T]:
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
        try:
            return _result(self)
        except BaseException as exc:
            del self  # (as in __await__: a traceback through here keeps no handle)
            if isinstance(exc, Exception):
                _received(exc)
            raise

    def exception(self) -> BaseException | None:
        """As :meth:`asyncio.Task.exception`."""
        exc = _exception(self)
        if exc is not None:
            _received(exc)
        return exc

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
        spec = self._spec
        try:
            # In the try too: an upstream's sink may have cancelled it after it ended
            # well (raising CancelledError on TaskFinished), so reading it can raise.
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
                    # Inside the try: whatever a sink raises, the task reports its end.
                    if record is not None:
                        emit(self._sinks, TaskStarted(self.id, ts, record.ready_ns,
                                                      record.released_by))
                    else:
                        emit(self._sinks, TaskStarted(self.id, ts))
            if not spec.is_async:
                result: T = await self._in_executor(spec, args, kwargs)
            else:
                # Kept for get_coro() / get_stack() / repr, as asyncio keeps a task's coro.
                self._body = body = spec.fn(*args, **kwargs) if kwargs else spec.fn(*args)
                result = await body
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
        """Record the end of the task, wake its dependents, then tell the sinks.

        Called while the task is finishing: the coroutine returns or raises right after,
        within the same step, so everything woken from here sees the task done.  The
        sinks come last: whatever one raises (even SystemExit), the engine's own
        bookkeeping is complete and no dependent or run waits for ever (#8).
        """
        self._phase = _ENDED
        if self._deps is not None:
            # Ended before its upstreams did (cancelled, or another upstream failed):
            # they must not keep it, and what it holds, alive until they end.
            self._unregister()
        record = self._record
        sinks = self._sinks
        ts = time.monotonic_ns() if record is not None or sinks else 0
        if record is not None:
            record.status = status
            record.finished_ns = ts
            call = self._body
            if type(call) is ExecutorCall and call.started_ns is None:
                record.started_ns = None  # cancelled while queued: the body never ran
        if error is not None:
            self._ended_with(status, error)
        elif self._received is not None:
            if status is OK:  # the body received these failures and went on normally
                for received in self._received:
                    mark_handled(received)
            self._received = None
        dependents = self._dependents
        if dependents is not None:
            self._dependents = None
            if status is OK:
                ready_ns = ts  # when they became ready: now (read once, if not yet read)
                for dependent in dependents:
                    dependent._waiting -= 1
                    if not dependent._waiting:
                        dependent_record = dependent._record
                        if dependent_record is not None:  # its last arrival: this one
                            if not ready_ns:
                                ready_ns = time.monotonic_ns()
                            dependent_record.ready_ns = ready_ns
                            dependent_record.released_by = self.id
                        dependent._wake()
            else:
                for dependent in dependents:
                    # It will not run: settle it at once.
                    dependent._trouble = True
                    dependent._wake()
        alive = getattr(self.get_loop(), _ALIVE, _fallback_alive)
        alive.discard(self)
        if not alive and alive is not _fallback_alive and sys.getsizeof(alive) > 4096:
            # A set never shrinks: after a burst of many tasks, a new one, so the burst's
            # memory is not kept for the rest of the process.
            setattr(self.get_loop(), _ALIVE, set())
        run = self._run
        if run is not None:
            watch = run._watch
            if watch is not None and watch._culprit is not None:
                watch.flush()  # a block by this step: reported before its end
            run._unfinished -= 1
            if not run._unfinished:
                run._all_done()
        if sinks:
            emit(sinks, TaskFinished(self.id, status, error, failed_upstream, ts))

    def _ended_with(self, status: TaskStatus, error: BaseException) -> None:
        run = self._run
        record = self._record
        if status is FAILED and not is_task_failure(error):
            # The source of a failure.  It is logged later, once, and only if nobody
            # handles it (errors.is_handled): when it stops a dependent or is raised
            # on, when its run ends, or, outside any run, by asyncio itself if the
            # handle is dropped with the error never retrieved.
            mark_task_failure(error, self._aiodag_ref)
            if run is not None:
                assert record is not None
                run._failed(record, error, root=True, body=_code_of(self._spec.fn))
                self.add_done_callback(_mark_retrieved)  # the run reports it
            return
        # A failure passed on: an UpstreamError, or a body re-raising what it awaited.
        root = mark_passed_on(error)
        self.add_done_callback(_mark_retrieved)  # reported through its root
        if run is not None:
            assert record is not None
            run._failed(record, error, root=False, body=_code_of(self._spec.fn))
            run._passed_on(root)

    def _unregister(self) -> None:
        deps, self._deps = self._deps, None
        for fut in deps or ():
            if isinstance(fut, TaskHandle):
                dependents = fut._dependents
                if dependents is not None:
                    dependents.pop(self, None)
            else:
                stop_waiting_for_foreign(fut, self)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _foreign_done(self, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled() or _exception(fut) is not None:
            self._trouble = True
            self._wake()
        else:
            self._waiting -= 1
            if not self._waiting:
                if self._record is not None:
                    self._record.ready_ns = time.monotonic_ns()
                    self._record.released_by = None
                self._wake()

    def _ended_unstarted(self, _: asyncio.Future[Any]) -> None:
        if self._phase != _ENDED:
            if self._trouble:
                # An upstream had failed, but this task was cancelled before its first
                # step could pass the failure on.  The engine read that failure (so
                # asyncio will not report it): make sure it is reported.
                for fut in self._deps or ():
                    if fut.done() and not fut.cancelled():
                        exc = _exception(fut)
                        if exc is not None and not is_handled(exc):
                            log_failure(root_of(exc))
            self._end(CANCELLED, None, None)

    async def _in_executor(self, spec: TaskFunction[T], args: tuple[Any, ...],
                           kwargs: dict[str, Any]) -> T:
        executor = spec.executor
        if executor is None and self._run is not None:  # seam: issue 14
            executor = self._run.executor  # seam: issue 14 (Run(executor=...))
        if executor is None or isinstance(executor, ThreadPoolExecutor):
            # A thread of this process: carry the context (and so the current span)
            # along, and know whether the body ever ran if the task is cancelled.
            self._body = call = ExecutorCall(
                contextvars.copy_context(), spec.fn, args, kwargs)
            try:
                result = await self.get_loop().run_in_executor(executor, call)
            except asyncio.CancelledError:
                call.abandon()
                raise
            call.result = None
        else:
            # seam: issue 14 -- another process or machine (a process pool, a Dask
            # client): the call pickles, with a carrier for the context (aiodag.remote).
            result = await run_remote(executor, spec.fn, args, kwargs, self._aiodag_ref)
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
            exc = _exception(fut)
            if exc is not None:
                root = exc.root if isinstance(exc, UpstreamError) else _ref(fut)
                upstream_id = fut.id if isinstance(fut, TaskHandle) else None
                error = UpstreamError(self._aiodag_ref, _ref(fut), upstream_id, root)
                error.__cause__ = exc  # (before _end, which follows the chain to the root)
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
            self._record = record = run._add(self.id, name, (parts, kwparts), dependencies,
                                            ts, caller_id)
            if self._waiting or self._trouble:
                record.ready_ns = None  # not ready yet: set when its last upstream ends
            return
        arg_reprs = tuple(map(_ref, args))
        kwarg_reprs = tuple([(k, _ref(v)) for k, v in kwargs.items()]) if kwargs else ()
        label = format_call(name, arg_reprs, kwarg_reprs)
        if run is not None:
            self._record = run._add(self.id, name, label, dependencies, ts, caller_id)
            if self._waiting or self._trouble:
                self._record.ready_ns = None  # not ready yet: set when its last upstream ends
        try:
            emit(self._sinks, TaskCreated(
                self.id, name, label, run.id if run is not None else None,
                dependencies, arg_reprs, kwarg_reprs, ts, caller_id,
            ))
        except BaseException:
            # A sink raised SystemExit or the like: no task is created after all.
            if self._record is not None:
                assert run is not None
                run._discard(self._record)
            raise


# Module-level names: the hot path reads these faster than class attributes.
PENDING, RUNNING, OK = TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.OK
FAILED, CANCELLED = TaskStatus.FAILED, TaskStatus.CANCELLED
UPSTREAM_FAILED = TaskStatus.UPSTREAM_FAILED
DATA, EXOGENOUS = DependencyKind.DATA, DependencyKind.EXOGENOUS
# The C methods themselves: the engine's own reads are not the user's (is_handled).
_result = asyncio.Future.result
_exception = asyncio.Future.exception
_task_await = asyncio.Future.__await__
_new_tuple = tuple.__new__  # builds a Dependency without NamedTuple's Python-level __new__


def _code_of(fn: Any) -> Any:
    """The code object of a task's function (``None`` for a callable object)."""
    fn = inspect.unwrap(getattr(fn, "__func__", fn))
    return getattr(fn, "__code__", None)


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


def _mark_retrieved(fut: asyncio.Future[Any]) -> None:
    # Silences asyncio's "exception was never retrieved": the engine reports it.
    if not fut.cancelled():
        _exception(fut)


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
