"""Concurrency limits: at most N task bodies running at once, per event loop.

A :class:`Limit` is a FIFO semaphore kept per event loop.  A task function's ``limit=``
and a run's ``Run(limit=)`` each hold one (made by :func:`aiodag.options.run_limit`);
:func:`aiodag.controls.drive` takes a slot of the task's limit, then of the run's, before
it starts the body, and gives them back when the body ends.  While a handle waits for a
slot it reads ``pending`` (its ``_waiter``, see ``handle.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any

from .rows import CALLER, NONE

if TYPE_CHECKING:
    from .handle import TaskHandle

__all__ = ["Limit"]

logger = logging.getLogger("aiodag")


class _Slots:
    """The slots of one limit on one event loop: a count and a FIFO of waiters."""

    __slots__ = ("free", "holders", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.holders: set[int] = set()  # ids of the tasks holding a slot


class Limit:
    """At most ``size`` bodies running at once, per event loop (a FIFO semaphore).

    Per loop, because one task function may be called under several loops in turn
    (each ``asyncio.run``), and an asyncio future belongs to one loop.
    """

    __slots__ = ("_by_loop", "_warned", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._warned = False
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Slots] = (
            weakref.WeakKeyDictionary())

    def __repr__(self) -> str:
        return f"<aiodag Limit {self.size}>"

    def _slots(self, loop: asyncio.AbstractEventLoop) -> _Slots:
        slots = self._by_loop.get(loop)
        if slots is None:
            self._by_loop[loop] = slots = _Slots(self.size)
        return slots

    def running(self, loop: asyncio.AbstractEventLoop) -> int:
        """How many slots are taken on ``loop``."""
        slots = self._by_loop.get(loop)
        return 0 if slots is None else self.size - slots.free

    async def acquire(self, handle: TaskHandle[Any]) -> None:
        """Take a slot for ``handle``, waiting (``pending``) while none is free."""
        slots = self._slots(handle.get_loop())
        if slots.free and not slots.waiters:
            slots.free -= 1
            slots.holders.add(handle.id)
            return
        row = handle._row
        caller = NONE if row == NONE else handle._run._rows.cells[8 * row + CALLER]  # type: ignore[union-attr]
        if caller in slots.holders and not self._warned:
            self._warn_nested(handle, caller)
        waiter: asyncio.Future[None] = handle.get_loop().create_future()
        slots.waiters.append(waiter)
        # The handle's status reads "pending" while it has a waiter (see handle.py).
        handle._waiter = waiter
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(slots)  # granted as it was cancelled: pass the slot on
            else:
                with contextlib.suppress(ValueError):
                    slots.waiters.remove(waiter)
            raise
        finally:
            handle._waiter = None
        slots.holders.add(handle.id)

    def release(self, handle: TaskHandle[Any]) -> None:
        """Give ``handle``'s slot back: to the longest waiter, if any."""
        slots = self._slots(handle.get_loop())
        slots.holders.discard(handle.id)
        self._release(slots)

    def _warn_nested(self, handle: TaskHandle[Any], caller_id: int) -> None:
        # The one way a limit can stop a run for ever: bodies holding every slot, each
        # waiting for a task it called that waits for a slot.  It cannot be told apart
        # from a caller that merely goes on running, so it is said once, not refused.
        self._warned = True
        logger.warning(
            "task %s waits for a slot of limit=%d while its caller (task #%d) holds one: "
            "if the caller waits for it, and every slot is held so, the run waits for "
            "ever. Limit the called function instead, give it a Run of its own, or "
            "raise the limit", handle._aiodag_ref, self.size, caller_id)

    @staticmethod
    def _release(slots: _Slots) -> None:
        while slots.waiters:
            waiter = slots.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # handed over: the count stays taken
                return
        slots.free += 1
