"""Who received a task's failure: awaiting a handle, or reading its result.

A failure that code awaited (or read with ``result()`` / ``exception()``) is that
code's to handle: it is noted on the task body, or the :class:`~aiodag.Run` block,
running that code; if that code then ends normally, it handled the failure
(:func:`aiodag.errors.is_handled`), which is then neither logged nor raised by the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .runs import _current_run
from .state import WAITING
from .state import exception as _exception
from .state import result as _result

__all__ = ["ReceivedFace"]

T = TypeVar("T")

_task_await = asyncio.Future.__await__


class ReceivedFace(Generic[T]):
    """The methods of :class:`~aiodag.TaskHandle` that hand its result or failure to
    the caller (a mixin before :class:`asyncio.Task`)."""

    __slots__ = ()

    if TYPE_CHECKING:
        _phase: int
        _received: list[BaseException] | None

        def _wait_for_start(self) -> Generator[Any, None, None]: ...
        def _must_have_started(self, what: str = "Result") -> None: ...

    def __await__(self) -> Generator[Any, None, T]:
        if self._phase == WAITING:
            yield from self._wait_for_start()
        waiting: Generator[Any, None, T] = _task_await(self)  # type: ignore[arg-type]
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
            return _result(self)  # type: ignore[arg-type]
        except BaseException as exc:
            del self  # (as in __await__: a traceback through here keeps no handle)
            if isinstance(exc, Exception):
                _received(exc)
            raise

    def exception(self) -> BaseException | None:
        """As :meth:`asyncio.Task.exception`."""
        self._must_have_started("Exception")
        exc = _exception(self)  # type: ignore[arg-type]
        if exc is not None:
            _received(exc)
        return exc


def _received(error: BaseException) -> None:
    """A failure reached code that awaited a handle or read its result: note it on the
    task body (or Run block) running that code; if it ends normally, it handled it."""
    loop = asyncio._get_running_loop()  # read outside any loop too (after it ran)
    if loop is None:
        return
    current = asyncio.current_task(loop)
    handle: object = current  # (a ReceivedFace is a Task only as a TaskHandle)
    if isinstance(handle, ReceivedFace):
        if handle._received is None:
            handle._received = [error]  # type: ignore[misc]  # (a slot of TaskHandle)
        else:
            handle._received.append(error)
        return
    run = _current_run.get()
    if run is not None and current is not None and run._owner is current:
        run._received.append(error)
