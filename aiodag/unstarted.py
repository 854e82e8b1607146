"""The asyncio face of a handle that has not started: a pending task, to every caller.

Until its upstreams have finished, a handle is an :class:`asyncio.Task` object whose
``Task.__init__`` has not run yet (see :mod:`aiodag.handle`).  asyncio's own methods
would fail on it (some with ``RuntimeError: uninitialized Future object``, and
``get_coro``/``get_context`` by crashing the interpreter on some versions), so every
public method of ``Task`` and ``Future`` that is not already safe answers here as a
pending task would: ``done()`` is ``False``, ``result()`` raises
:class:`asyncio.InvalidStateError`, done-callbacks are kept and handed to asyncio at the
start (after the engine's own, so the engine's bookkeeping comes first), awaiting waits
for the end.  ``done``, ``cancelled``, ``cancelling`` and ``uncancel`` are asyncio's
own, which answer correctly on a task not yet started (``tests/test_unstarted.py``
checks every method of ``asyncio.Task`` on every Python version we support).
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TextIO

from .bodies import never_run
from .introspection import AsyncioFace
from .state import STARTED as _STARTED
from .state import WAITING as _WAITING

__all__ = ["UnstartedFace"]

# asyncio's own Task methods, called directly (see aiodag.state).
_init_task = asyncio.Task.__init__
_task_del = asyncio.Task.__del__



class UnstartedFace(AsyncioFace):
    """The methods of :class:`~aiodag.TaskHandle` that differ before its start (a mixin
    before :class:`asyncio.Task`: ``super()`` is asyncio's)."""

    __slots__ = ()

    if TYPE_CHECKING:
        _phase: int
        _home: asyncio.AbstractEventLoop
        _context: contextvars.Context | None
        _early: list[tuple[Any, Any]] | None
        _created_at: Any
        _source_traceback: Any
        id: int

        def _unregister(self) -> None: ...
        def _take_early(self) -> tuple[list[tuple[Any, Any]] | None, str | None]: ...
        def _add_callbacks(self, early: list[tuple[Any, Any]] | None) -> None: ...

    def cancel(self, msg: Any = None) -> bool:
        """Cancel this task only: upstreams it shares with other tasks run on."""
        if self._phase == _WAITING:
            # Not started: it never will.  It becomes a task cancelled before its first
            # step, so it ends as any cancelled asyncio task does.
            self._unregister()
            created_at = self._created_at
            del self._args, self._kwargs, self._plan, self._created_at  # type: ignore[attr-defined]
            self._phase = _STARTED  # type: ignore[misc]
            early, name = self._take_early()
            _init_task(self, never_run(), loop=self._home, name=name,  # type: ignore[arg-type]
                       context=self._context)
            if created_at is not None and self._source_traceback:
                self._source_traceback[:] = created_at
            self._add_callbacks(early)
        return super().cancel(msg)  # type: ignore[misc,no-any-return]

    def __del__(self) -> None:
        if self._phase != _WAITING:
            # asyncio's own: "Task was destroyed but it is pending!"
            _task_del(self)  # type: ignore[arg-type]
        else:
            # Never started, and dropped (its loop was closed and let go): say so as
            # asyncio says it of its own pending tasks (whose finalizer would crash on
            # a task not yet initialised).
            self._home.call_exception_handler({
                "message": "Task was destroyed but it is pending!",
                "task": self,
            })

    def add_done_callback(self, fn: Callable[[Any], object], /, *,
                          context: contextvars.Context | None = None) -> None:
        """As :meth:`asyncio.Future.add_done_callback`."""
        if self._phase != _WAITING:
            super().add_done_callback(fn, context=context)  # type: ignore[misc]
            return
        entry = (fn, context if context is not None else contextvars.copy_context())
        if self._early is None:
            self._early = [entry]  # type: ignore[misc]
        else:
            self._early.append(entry)

    def remove_done_callback(self, fn: Callable[[Any], object], /) -> int:
        """As :meth:`asyncio.Future.remove_done_callback`."""
        if self._phase != _WAITING:
            return super().remove_done_callback(fn)  # type: ignore[misc,no-any-return]
        early = self._early or []
        kept = [entry for entry in early if entry[0] is None or entry[0] != fn]
        self._early = kept or None  # type: ignore[misc]
        return len(early) - len(kept)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """As :meth:`asyncio.Future.get_loop`."""
        return self._home

    def get_name(self) -> str:
        """As :meth:`asyncio.Task.get_name`: the task's ``name#id`` unless set."""
        for fn, name in self._early or ():
            if fn is None:
                return str(name)
        return self._spec.ref_prefix + str(self.id)

    def set_name(self, value: object, /) -> None:
        """As :meth:`asyncio.Task.set_name`."""
        # Kept first among the early entries as (None, name): the start passes it to
        # asyncio; afterwards the entry stays, alone, for get_name().
        if self._phase != _WAITING:
            super().set_name(value)  # type: ignore[misc]
            self._early = [(None, str(value))]  # type: ignore[misc]
            return
        early = [entry for entry in self._early or () if entry[0] is not None]
        self._early = [(None, str(value)), *early]  # type: ignore[misc]

    def get_context(self) -> contextvars.Context:
        """As :meth:`asyncio.Task.get_context`."""
        if self._phase != _WAITING:
            return super().get_context()  # type: ignore[misc,no-any-return]
        assert self._context is not None
        return self._context

    def get_coro(self) -> Any:
        """The body's coroutine (``None`` before the task starts)."""
        if self._phase == _WAITING:
            return None
        return super().get_coro()

    def get_stack(self, *, limit: int | None = None) -> list[Any]:
        """The body's frames, as asyncio shows a plain task's (none before it began)."""
        if self._phase == _WAITING:
            return []
        return super().get_stack(limit=limit)

    def print_stack(self, *, limit: int | None = None, file: TextIO | None = None) -> None:
        """As :meth:`asyncio.Task.print_stack`."""
        if self._phase != _WAITING:
            super().print_stack(limit=limit, file=file)  # type: ignore[misc]
            return
        print(f"No stack for {self!r}", file=file or sys.stderr)

    def _must_have_started(self, what: str = "Result") -> None:
        if self._phase == _WAITING:
            raise asyncio.InvalidStateError(f"{what} is not set.")

    def __repr__(self) -> str:
        if self._phase != _WAITING:
            return super().__repr__()
        pending = getattr(self, "_pending", 0)
        what = f"waiting for {pending} upstream{'s' if pending != 1 else ''}"
        return (f"<{type(self).__name__} pending name={self.get_name()!r} "
                f"coro=<{self._spec.name}() {what}> status=pending>")

    def _wait_for_start(self) -> Generator[Any, None, None]:
        """Wait (in ``await handle``) until the handle has started and ended, or, if
        the awaiting code is cancelled meanwhile, until the handle has started.

        Cancelling the awaiting code cancels the handle, as awaiting a task does.
        """
        waiter = self._home.create_future()
        self.add_done_callback(_wake(waiter))
        try:
            yield from waiter
        except asyncio.CancelledError:
            # As when awaiting a task: the cancellation goes to the handle, and the
            # awaiting code goes on waiting until the handle has ended (it may handle
            # the cancellation and return a value).  The handle has started now (a
            # cancelled one starts at once), so awaiting it is asyncio's own.
            self.cancel()


def _wake(waiter: asyncio.Future[None]) -> Callable[[Any], None]:
    def wake(_: Any) -> None:
        if not waiter.done():
            waiter.set_result(None)
    return wake
