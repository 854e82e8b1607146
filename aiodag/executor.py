"""A plain (``def``) task's call, run in a worker thread of this process."""

from __future__ import annotations

import contextvars
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["ExecutorCall"]


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
