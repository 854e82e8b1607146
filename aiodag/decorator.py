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
from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec, TypeVar, overload

from .deps import plan_args
from .handle import TaskHandle
from .remote import SubmitsCalls, check_executor  # seam: issue 14

__all__ = ["TaskFunction", "task"]

P = ParamSpec("P")
T = TypeVar("T")


def _is_async(fn: Callable[..., Any]) -> bool:
    # unwrap: an async function behind a plain decorator (functools.wraps) is async.
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(inspect.unwrap(fn)):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004  # the class's, not the instance's
    return call is not None and inspect.iscoroutinefunction(call)


class TaskFunction(Generic[T]):
    """A function wrapped by :func:`task`.  Calling it schedules a run and returns a
    :class:`~aiodag.TaskHandle`; the function itself runs once its dependencies are done.

    Arguments are typed ``Any``: any of them may be a handle standing for the value.
    """

    def __init__(
        self,
        fn: Callable[..., Awaitable[T]] | Callable[..., T],
        exogenous: tuple[asyncio.Future[Any], ...] = (),
        *,
        name: str | None = None,
        executor: SubmitsCalls | None = None,
        context: contextvars.Context | None = None,
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
        self.exogenous = exogenous
        default = getattr(fn, "__name__", None) or type(fn).__name__
        self.name: str = default if name is None else name
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"task(): name must be a non-empty string, got {self.name!r}")
        self.ref_prefix = self.name + "#"

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
        return TaskHandle(self, loop, args, kwargs, plan_args(args, kwargs), self.context)

    def __get__(self, obj: object, objtype: type | None = None) -> TaskFunction[T]:
        # Decorating a method: bind `self` like a function would.
        if obj is None:
            return self
        return TaskFunction(
            types.MethodType(self.fn, obj),
            self.exogenous,
            name=self.name,
            executor=self.executor,
            context=self.context,
        )

    def __repr__(self) -> str:
        deps = f" +{len(self.exogenous)} exogenous" if self.exogenous else ""
        return f"<aiodag task {self.name!r}{deps}>"


@overload
def task(
    fn: Callable[P, Awaitable[T]],
    /,
    *deps: asyncio.Future[Any],
    name: str | None = ...,
    executor: SubmitsCalls | None = ...,
    context: contextvars.Context | None = ...,
) -> TaskFunction[T]: ...
@overload
def task(
    fn: Callable[P, T],
    /,
    *deps: asyncio.Future[Any],
    name: str | None = ...,
    executor: SubmitsCalls | None = ...,
    context: contextvars.Context | None = ...,
) -> TaskFunction[T]: ...
@overload
def task(
    fn: None = ...,
    /,
    *,
    name: str | None = ...,
    executor: SubmitsCalls | None = ...,
    context: contextvars.Context | None = ...,
) -> Callable[[Callable[P, Any]], TaskFunction[Any]]: ...
def task(
    fn: Callable[..., Any] | None = None,
    /,
    *deps: asyncio.Future[Any],
    name: str | None = None,
    executor: SubmitsCalls | None = None,
    context: contextvars.Context | None = None,
) -> TaskFunction[Any] | Callable[[Callable[..., Any]], TaskFunction[Any]]:
    """Make ``fn`` a task: calling it schedules it and returns a handle at once.

    * ``@task`` or ``@task(name="load")`` on an ``async def`` or a plain ``def`` (which
      runs in ``executor``, by default the run's (``Run(executor=)``) or the loop's, so
      it never blocks the loop; a process pool or a Dask ``distributed.Client`` runs it
      in another process, see :mod:`aiodag.remote`).
    * ``task(fn, *deps)`` at call time: ``deps`` are *exogenous* dependencies, futures
      (usually other handles) to wait for whose results are not passed to ``fn``.
    * ``context=``: run the task in that :class:`contextvars.Context` (as
      ``asyncio.create_task(..., context=)``), instead of a copy of the caller's.
    * Wrapping a task again adds its ``deps`` to the ones it has; it adds no layer.

    >>> @task
    ... async def fetch(key):
    ...     return key * 2
    >>> async def main():
    ...     return await fetch("a")
    """
    for dep in deps:
        if not isinstance(dep, asyncio.Future):
            raise TypeError(
                f"task(): an exogenous dependency must be a task handle or another "
                f"asyncio future, got {dep!r}; pass the handle returned by calling a task"
            )
    if fn is None:
        if deps:
            raise TypeError("task(): give the function first, then its dependencies")
        return lambda f: task(f, name=name, executor=executor, context=context)
    if isinstance(fn, TaskFunction):
        return TaskFunction(
            fn.fn,
            fn.exogenous + deps,
            name=fn.name if name is None else name,
            executor=fn.executor if executor is None else executor,
            context=fn.context if context is None else context,
        )
    if not callable(fn):
        raise TypeError(f"task() needs a function (async def or def), got {fn!r}")
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(
            f"task() cannot run generator {fn!r}: a task returns one result; "
            "collect the items into a list inside an async def instead"
        )
    return TaskFunction(fn, deps, name=name, executor=executor, context=context)
