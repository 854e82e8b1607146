"""Plain asyncio futures (not handles) among a task's dependencies."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Protocol

__all__ = ["stop_waiting_for_foreign", "wait_for_foreign"]


class _Waiter(Protocol):
    def _foreign_done(self, fut: asyncio.Future[Any]) -> None: ...


class _FanOut:
    """The one done-callback of a plain asyncio future (not a handle) that handles wait
    on: it wakes them all.  Removing one of many callbacks from a future is a linear
    scan, so cancelling the many dependents of one future was quadratic (#8); removing
    a handle from this dict is not.
    """

    __slots__ = ("__weakref__", "waiters")

    def __init__(self) -> None:
        self.waiters: dict[_Waiter, None] = {}

    def __call__(self, fut: asyncio.Future[Any]) -> None:
        waiters, self.waiters = self.waiters, {}
        for handle in waiters:
            handle._foreign_done(fut)


# By the future's id, held weakly: the future's callback list holds the fan-out (and
# so its handles) exactly as long as the future needs it, and no cycle through this
# table keeps a dropped loop's futures and handles alive.
_fan_outs: weakref.WeakValueDictionary[int, _FanOut] = weakref.WeakValueDictionary()


def wait_for_foreign(fut: asyncio.Future[Any], handle: _Waiter) -> None:
    fan_out = _fan_outs.get(id(fut))
    if fan_out is None:
        _fan_outs[id(fut)] = fan_out = _FanOut()
        fut.add_done_callback(fan_out)
    fan_out.waiters[handle] = None


def stop_waiting_for_foreign(fut: asyncio.Future[Any], handle: _Waiter) -> None:
    fan_out = _fan_outs.get(id(fut))
    if fan_out is None:
        return
    fan_out.waiters.pop(handle, None)
    if not fan_out.waiters:
        # The last one left: take the callback off a future that may live long.
        del _fan_outs[id(fut)]
        fut.remove_done_callback(fan_out)
