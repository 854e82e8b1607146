"""Make aiodag handles stand in for ``asyncio.Task`` in CPython's own asyncio tests.

CPython's tests make tasks from coroutine objects (``Task(coro, loop=...)``, a loop's
task factory); aiodag makes them by calling a :class:`~aiodag.TaskFunction`.  The bridge
is a task whose body *is* the given coroutine: :class:`GivenCoroutine` is a plain
callable that returns that coroutine and declares itself async the way aiodag's README
allows (an async function behind a ``functools.wraps``-style wrapper, via
``__wrapped__``), so the engine awaits it inside the handle like any task body.  Every
handle is made through ``TaskFunction.__call__``, the path users take.

* :class:`HandleTask` stands for the ``Task`` class of a test case (``Task(coro, loop=...,
  name=..., context=...)``, ``isinstance(t, Task)``, ``Task[str]``);
* :func:`handle_task_factory` is a loop task factory, for code that calls
  ``loop.create_task`` / ``asyncio.create_task`` (task groups, ``gather``, ``wait_for``).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import weakref
from collections.abc import Coroutine
from typing import Any

from aiodag import TaskHandle, task

__all__ = [
    "GivenCoroutine",
    "HandleTask",
    "close_unstarted",
    "handle_task_factory",
    "make_handle",
]

_made: weakref.WeakSet[TaskHandle[Any]] = weakref.WeakSet()


def close_unstarted() -> None:
    """Close the engine's wrapper coroutine of every shim handle that never took a step.

    A test that stops early (or forces a task's state) leaves such handles on a closed
    loop; the test closes the coroutine it gave, as it would for a plain task, but the
    wrapper is the engine's, and unclosed it warns "never awaited" in a later test.
    """
    for handle in list(_made):
        coro = asyncio.Task.get_coro(handle)
        if coro is not None and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
            coro.close()
    _made.clear()


async def _given_coroutine() -> Any:
    """What a :class:`GivenCoroutine` declares it wraps (never called)."""
    raise AssertionError("stands for the coroutine a shim task was given")  # pragma: no cover


class GivenCoroutine:
    """A task body that is the coroutine it was given: calling it returns that coroutine.

    A coroutine object runs once, so the body hands it out once.  If the handle ends
    without calling it (cancelled before it began), the coroutine is closed when the body
    goes away, as asyncio's first step would have closed it, so it does not warn that it
    was never awaited.  (aiodag itself never meets this: it creates the coroutine only
    when the body runs.)  A weakref finalizer rather than ``__del__``: the garbage
    collector calls it before the coroutine's own finalizer, also in a reference cycle.
    """

    __wrapped__ = staticmethod(_given_coroutine)

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._coro: Coroutine[Any, Any, Any] | None = coro
        self._close_unused = weakref.finalize(self, coro.close)
        # The task's name (aiodag's default `name#id` ref) follows the coroutine's.
        self.__name__ = getattr(coro, "__name__", None) or type(coro).__name__
        self.__qualname__ = getattr(coro, "__qualname__", None) or self.__name__

    def __call__(self) -> Coroutine[Any, Any, Any]:
        coro, self._coro = self._coro, None
        if coro is None:
            raise RuntimeError("a shim task's coroutine was asked for twice")
        self._close_unused.detach()
        return coro


def make_handle(
    coro: Coroutine[Any, Any, Any],
    loop: asyncio.AbstractEventLoop | None = None,
    name: str | None = None,
    context: contextvars.Context | None = None,
) -> TaskHandle[Any]:
    """An aiodag handle on ``loop`` whose body is ``coro``: ``asyncio.Task(coro, ...)``."""
    if not asyncio.iscoroutine(coro):
        # asyncio.Task's own check, with its message: the argument is the shim's to check
        # (aiodag makes its coroutines itself and never receives one).
        raise TypeError(f"a coroutine was expected, got {coro!r}")
    spec = task(GivenCoroutine(coro))
    running = asyncio._get_running_loop()
    if loop is None or loop is running:
        handle = _call(spec, context)  # no loop given: the engine's own rule applies
    else:
        # CPython's tests make tasks for a loop before running it; aiodag schedules on the
        # running loop, so that loop runs for the call (and is restored at once).
        asyncio._set_running_loop(loop)
        try:
            handle = _call(spec, context)
        finally:
            asyncio._set_running_loop(running)
    if name is not None:
        handle.set_name(name)
    source_traceback = handle._source_traceback  # type: ignore[attr-defined]
    if source_traceback:
        # In debug mode: the shim's frames are no part of where the task was made.
        source_traceback[:] = [f for f in source_traceback if f.filename != __file__]
    _made.add(handle)
    return handle


def _call(spec: Any, context: contextvars.Context | None) -> TaskHandle[Any]:
    if context is None:
        return spec()  # type: ignore[no-any-return]
    return task(spec, context=context)()  # the handle runs in that very context


class _HandleTaskType(type):
    def __call__(  # type: ignore[override]
        cls,
        coro: Coroutine[Any, Any, Any],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        name: str | None = None,
        context: contextvars.Context | None = None,
        eager_start: bool = False,
    ) -> TaskHandle[Any]:
        # eager_start (3.12+, asyncio.create_eager_task_factory passes it): the engine
        # starts a handle eagerly when the loop's task factory is an eager one, which is
        # how the factory reaches this call.
        return make_handle(coro, loop, name, context)

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, TaskHandle)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, TaskHandle)

    def __getitem__(cls, item: Any) -> Any:
        return TaskHandle[item]


class HandleTask(metaclass=_HandleTaskType):
    """Stands for ``asyncio.Task`` in a CPython test case: ``Task(coro, loop=...)`` makes an
    aiodag :class:`~aiodag.TaskHandle`, and handles are its instances."""


def handle_task_factory(
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, Any],
    *,
    name: str | None = None,
    context: contextvars.Context | None = None,
) -> TaskHandle[Any]:
    """A loop task factory making aiodag handles (``loop.set_task_factory``)."""
    return make_handle(coro, loop, name, context)
