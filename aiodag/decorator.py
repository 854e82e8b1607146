"""``task``: turn a function into a DAG node that schedules itself when called.

::

    @task
    async def fetch(key): ...

    merge(fetch("a"), fetch("b"))        # both fetches start now; merge waits for them
    task(process, ready)(fetch("a"))     # exogenous dependency: wait for `ready` too
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import types
from asyncio import Future
from collections.abc import Awaitable, Callable
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    Protocol,
    TypedDict,
    TypeVar,
    Unpack,
    overload,
)

from .deps import ALL_FUTURES, plan_args
from .handle import TaskHandle
from .options import Controls, describe, make_controls, merge_controls
from .remote import SubmitsCalls, check_executor  # seam: issue 14

__all__ = ["TaskDecorator", "TaskFunction", "task"]

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S")
if TYPE_CHECKING:
    # The wrapped function's parameters, for type checkers only (the mypy plugin
    # aiodag.mypy checks calls against them).  Its default `...` keeps `TaskFunction[T]`
    # meaning "any parameters" (PEP 696); the standard library's ParamSpec takes a
    # default only from Python 3.13, so type checkers read typing_extensions' here.
    from typing_extensions import ParamSpec as _ParamSpec

    Params = _ParamSpec("Params", default=...)
else:
    Params = ParamSpec("Params")


def _is_async(fn: Callable[..., Any]) -> bool:
    # unwrap: an async function behind a plain decorator (functools.wraps) is async.
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(inspect.unwrap(fn)):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004  # the class's, not the instance's
    return call is not None and inspect.iscoroutinefunction(call)


class TaskFunction(Generic[T, Params]):
    """A function wrapped by :func:`task`.  Calling it schedules a run and returns a
    :class:`~aiodag.TaskHandle`; the function itself runs once its dependencies are done.

    ``TaskFunction[T, Params]``: the function returns (or its coroutine gives) ``T`` and
    takes ``Params``.  The call itself is typed ``(*Any, **Any)``, since any argument may
    be a handle standing for its value, which Python's type system cannot express; the
    mypy plugin ``aiodag.mypy`` checks calls against ``Params`` that way.
    The execution options (``retries``, ``timeout``, ``limit``, ...) are those of
    :func:`task`.
    """

    def __init__(
        self,
        fn: Callable[..., Awaitable[T]] | Callable[..., T],
        exogenous: tuple[asyncio.Future[Any], ...] = (),
        *,
        name: str | None = None,
        executor: SubmitsCalls | None = None,
        context: contextvars.Context | None = None,
        retries: int = 0,
        retry_delay: float = 0.0,
        retry_backoff: float = 2.0,
        retry_max_delay: float | None = None,
        retry_jitter: float = 0.1,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
        timeout: float | None = None,
        limit: int | None = None,
    ) -> None:
        # First, and without merging fn.__dict__: a callable object's own attributes
        # (a `name`, an `fn`) must not overwrite the wrapper's.
        functools.update_wrapper(self, fn, updated=())
        self.fn: Callable[..., Any] = fn
        self.is_async = _is_async(fn)
        if executor is not None and self.is_async:
            raise TypeError(
                f"executor= is for plain (def) functions, but {fn!r} is async; "
                "drop the executor or pass a plain function"
            )
        self.executor = check_executor(executor, "task")  # seam: issue 14
        if context is not None and not isinstance(context, contextvars.Context):
            raise TypeError(
                f"task(): context= must be a contextvars.Context, got {context!r}; "
                "pass contextvars.copy_context() or leave it out"
            )
        self.context = context
        # Each future once: a task waits for a dependency once (its upstream counts
        # down on it once), however often it is given.
        self.exogenous = tuple(dict.fromkeys(exogenous)) if len(exogenous) > 1 else exogenous
        default = getattr(fn, "__name__", None) or type(fn).__name__
        self.name: str = default if name is None else name
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"task(): name must be a non-empty string, got {self.name!r}")
        self.ref_prefix = self.name + "#"
        self.controls: Controls | None = make_controls(
            retries=retries, retry_delay=retry_delay, retry_backoff=retry_backoff,
            retry_max_delay=retry_max_delay, retry_jitter=retry_jitter, retry_on=retry_on,
            timeout=timeout, limit=limit,
        )
        """Retries, timeout and limit (``None``: none of them; see :mod:`aiodag.options`)."""

    def __call__(self, *args: Any, **kwargs: Any) -> TaskHandle[T]:
        """Schedule the task on the running loop and return its handle at once."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                f"task {self.name!r} was called with no running event loop; call tasks "
                "from code that asyncio runs, e.g. inside `async def main()` started "
                "with asyncio.run(main())"
            ) from None
        if args and not kwargs:
            for arg in args:
                if not isinstance(arg, Future):
                    break
            else:  # every argument an upstream: the commonest call, planned here at once
                return TaskHandle(self, loop, args, kwargs, ALL_FUTURES, self.context)
        return TaskHandle(self, loop, args, kwargs, plan_args(args, kwargs), self.context)

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> TaskFunction[T, Params]: ...
    @overload
    def __get__(
        self: TaskFunction[T, Concatenate[S, P]], obj: S, objtype: type | None = None
    ) -> TaskFunction[T, P]: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> TaskFunction[T]: ...
    def __get__(self, obj: object, objtype: type | None = None) -> TaskFunction[T, Any]:
        # Decorating a method: bind `self` like a function would (and for type checkers,
        # the bound task's parameters lose their first, as a bound method's do).
        if obj is None:
            return self
        bound = TaskFunction(
            types.MethodType(self.fn, obj),
            self.exogenous,
            name=self.name,
            executor=self.executor,
            context=self.context,
        )
        bound.controls = self.controls  # the same options, and the same limit's slots
        return bound

    def __repr__(self) -> str:
        deps = f" +{len(self.exogenous)} exogenous" if self.exogenous else ""
        return f"<aiodag task {self.name!r}{deps}{describe(self.controls)}>"


class TaskDecorator(Protocol):
    """What ``@task(name=...)`` returns: applied to a function, its task."""

    @overload
    def __call__(self, fn: Callable[P, Awaitable[T]], /) -> TaskFunction[T, P]: ...
    @overload
    def __call__(self, fn: Callable[P, T], /) -> TaskFunction[T, P]: ...


class TaskOptions(TypedDict, total=False):
    """The keyword options of :func:`task`, for type checkers (its overloads take
    ``**options: Unpack[TaskOptions]``); their meaning and defaults are task()'s."""

    name: str | None
    executor: SubmitsCalls | None
    context: contextvars.Context | None
    retries: int
    retry_delay: float
    retry_backoff: float
    retry_max_delay: float | None
    retry_jitter: float
    retry_on: type[BaseException] | tuple[type[BaseException], ...]
    timeout: float | None
    limit: int | None


@overload
def task(fn: TaskFunction[T, P], /, *deps: asyncio.Future[Any],
         **options: Unpack[TaskOptions]) -> TaskFunction[T, P]: ...
@overload
def task(fn: Callable[P, Awaitable[T]], /, *deps: asyncio.Future[Any],
         **options: Unpack[TaskOptions]) -> TaskFunction[T, P]: ...
@overload
def task(fn: Callable[P, T], /, *deps: asyncio.Future[Any],
         **options: Unpack[TaskOptions]) -> TaskFunction[T, P]: ...
@overload
def task(fn: None = ..., /, **options: Unpack[TaskOptions]) -> TaskDecorator: ...
def task(
    fn: Callable[..., Any] | None = None,
    /,
    *deps: asyncio.Future[Any],
    name: str | None = None,
    executor: SubmitsCalls | None = None,
    context: contextvars.Context | None = None,
    retries: int = 0,
    retry_delay: float = 0.0,
    retry_backoff: float = 2.0,
    retry_max_delay: float | None = None,
    retry_jitter: float = 0.1,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
    timeout: float | None = None,
    limit: int | None = None,
) -> TaskFunction[Any] | TaskDecorator:
    """Make ``fn`` a task: calling it schedules it and returns a handle at once.

    * ``@task`` or ``@task(name="load")`` on an ``async def`` or a plain ``def`` (which
      runs in ``executor``, by default the run's (``Run(executor=)``) or the loop's, so
      it never blocks the loop; a process pool or a Dask ``distributed.Client`` runs it
      in another process, see :mod:`aiodag.remote`).
    * ``task(fn, *deps)`` at call time: ``deps`` are *exogenous* dependencies, futures
      (usually other handles) to wait for whose results are not passed to ``fn``.
    * ``context=``: run the task in that :class:`contextvars.Context` (as
      ``asyncio.create_task(..., context=)``), instead of a copy of the caller's.
    * Wrapping a task again adds its ``deps`` to the ones it has; it adds no layer (and
      keeps its options, except those given again with other than their defaults).

    Execution options (see :mod:`aiodag.controls`; every call uses none by default):

    * ``retries=N``: run the body up to N more times when it raises an exception
      matching ``retry_on`` (default: any ``Exception``).  Before retry ``n`` it sleeps
      ``retry_delay * retry_backoff ** (n - 1)`` seconds, at most ``retry_max_delay``,
      spread by ``+-retry_jitter`` (a fraction).  One handle whatever the attempts; only
      the last one's outcome counts; :attr:`~aiodag.TaskRecord.attempts` keeps them all.
    * ``timeout=seconds``: each attempt may run that long, from the start of its body
      (waiting for upstreams or a slot does not count); then it ends with
      :class:`TimeoutError` (:attr:`~aiodag.TaskRecord.timed_out`), which ``retry_on``
      may retry.
    * ``limit=N``: at most N calls of this function run their body at once; the others
      wait, ``pending``, for a slot (also ``Run(limit=N)`` for a whole run).

    >>> @task
    ... async def fetch(key):
    ...     return key * 2
    >>> async def main():
    ...     return await fetch("a")
    """
    options: dict[str, Any] = {
        "retries": retries, "retry_delay": retry_delay, "retry_backoff": retry_backoff,
        "retry_max_delay": retry_max_delay, "retry_jitter": retry_jitter,
        "retry_on": retry_on, "timeout": timeout, "limit": limit,
    }
    make_controls(**options)  # checked at once, also for @task(...) before the function
    for dep in deps:
        if not isinstance(dep, asyncio.Future):
            raise TypeError(
                f"task(): an exogenous dependency must be a task handle or another "
                f"asyncio future, got {dep!r}; pass the handle returned by calling a task"
            )
    if fn is None:
        if deps:
            raise TypeError("task(): give the function first, then its dependencies")
        return lambda f: task(f, name=name, executor=executor, context=context,
                              **options)
    if isinstance(fn, TaskFunction):
        again = TaskFunction(
            fn.fn,
            fn.exogenous + deps,
            name=fn.name if name is None else name,
            executor=fn.executor if executor is None else executor,
            context=fn.context if context is None else context,
        )
        again.controls = merge_controls(fn.controls, options)
        return again
    if not callable(fn):
        raise TypeError(f"task() needs a function (async def or def), got {fn!r}")
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(
            f"task() cannot run generator {fn!r}: a task returns one result; "
            "collect the items into a list inside an async def instead"
        )
    return TaskFunction(fn, deps, name=name, executor=executor, context=context, **options)
