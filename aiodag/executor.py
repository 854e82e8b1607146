"""A plain (``def``) task's call, run in a worker thread of this process."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .remote import run_remote
from .rows import NONE, STARTED

if TYPE_CHECKING:
    from .decorator import TaskFunction

__all__ = ["ExecutorCall", "in_executor", "still_queued"]


async def in_executor(handle: Any, spec: TaskFunction[Any], args: Any,
                      kwargs: dict[str, Any]) -> Any:
    """The coroutine of a plain (``def``) task: its call, run in ``spec.executor``."""
    executor = spec.executor
    if executor is None and handle._run is not None:
        executor = handle._run.executor  # Run(executor=...): the run's default
    loop = asyncio.get_running_loop()
    if executor is None or isinstance(executor, ThreadPoolExecutor):
        # A thread of this process: carry the context (and so the current span)
        # along, and know whether the body ever ran if the task is cancelled.
        handle._body = call = ExecutorCall(contextvars.copy_context(), spec.fn,
                                           tuple(args), kwargs)
        try:
            result = await loop.run_in_executor(executor, call)
        except asyncio.CancelledError:
            call.abandon()
            raise
        call.result = None
    else:
        # Another process or machine (a process pool, a Dask client): the call pickles,
        # with a carrier for the context (aiodag.remote).
        result = await run_remote(executor, spec.fn, tuple(args), kwargs, handle._aiodag_ref,
                                  lambda: _never_began(handle))
    if inspect.isawaitable(result):
        # A plain function that hands back a coroutine (an async function behind a
        # plain decorator, a lambda): what it means is the coroutine's result.
        result = await result
    return result


class ExecutorCall:
    """A plain function's call, run in a worker thread.

    It notes when the worker began (``started_ns``), so a task cancelled while still
    queued is recorded as never started, and it closes a coroutine the function hands
    back if the task was cancelled meanwhile (no "coroutine was never awaited").
    """

    __slots__ = ("abandoned", "args", "context", "fn", "kwargs", "lock", "result",
                 "started_ns")

    def __init__(self, context: contextvars.Context, fn: Callable[..., Any],
                 args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.context, self.fn, self.args, self.kwargs = context, fn, args, kwargs
        self.started_ns: int | None = None
        self.lock = threading.Lock()
        self.abandoned = False
        self.result: Any = None

    def __call__(self) -> Any:
        self.started_ns = time.monotonic_ns()
        try:
            result = self.context.run(self.fn, *self.args, **self.kwargs)
        except StopIteration as exc:
            # A future cannot hold a StopIteration (asyncio would leave it pending for
            # ever); turn it into what a coroutine raising it would give (PEP 479).
            name = getattr(self.fn, "__name__", self.fn)
            raise RuntimeError(f"{name!r} raised StopIteration") from exc
        finally:
            self.args = self.kwargs = None  # type: ignore[assignment]
        if inspect.iscoroutine(result):
            with self.lock:
                if not self.abandoned:
                    self.result = result
                    return result
            result.close()
            return None
        return result

    def abandon(self) -> None:
        """The task was cancelled: whatever the worker hands back is not awaited."""
        with self.lock:
            self.abandoned = True
            result, self.result = self.result, None
        if result is not None:
            result.close()


def still_queued(body: object) -> bool:
    """``body`` (a handle's ``_body``) is a thread call that no worker has begun: a task
    cancelled then never ran it."""
    return type(body) is ExecutorCall and body.started_ns is None


def _never_began(handle: Any) -> None:
    """The call was cancelled while still queued: its record shows no start."""
    row = handle._row
    if row != NONE:
        handle._run._rows.cells[8 * row + STARTED] = NONE
