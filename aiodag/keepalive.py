"""Loop-level state of the engine: the strong references that keep handles alive, and
whether a loop starts tasks eagerly.

Kept apart from :mod:`aiodag.handle` so that runs (which cancel their unfinished
handles) and :func:`aiodag.wait_for_tasks` can reach it without importing the handle.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["alive_handles", "is_eager"]

_ALIVE = "_aiodag_alive"
"""The loop attribute holding the strong references to its unfinished handles.

asyncio keeps only weak references to tasks, so a fire-and-forget handle could vanish
mid-run.  The references live on the loop, not in a global: a loop closed with handles
still pending takes them along when it is dropped (and asyncio's own "Task was
destroyed but it is pending!" reports them), instead of keeping them for ever (#8).
"""
_fallback_alive: set[asyncio.Task[Any]] = set()
"""For loops that take no attributes (a C loop without ``__dict__``)."""


def alive_handles(loop: asyncio.AbstractEventLoop) -> set[asyncio.Task[Any]]:
    """The set holding ``loop``'s unfinished handles (created on first use)."""
    try:
        return getattr(loop, _ALIVE)  # type: ignore[no-any-return]
    except AttributeError:
        alive: set[asyncio.Task[Any]] = set()
        try:
            setattr(loop, _ALIVE, alive)
        except AttributeError:
            return _fallback_alive
        return alive


def is_eager(loop: asyncio.AbstractEventLoop) -> bool:
    """True if ``loop`` creates tasks eagerly (``asyncio.eager_task_factory``, 3.12+)."""
    factory = loop.get_task_factory()
    if factory is None:
        return False
    # create_eager_task_factory() returns a closure named after it: no public way to
    # ask a factory whether it is eager, so recognise the standard library's two.
    return factory is _EAGER_FACTORY or getattr(factory, "__qualname__", "").startswith(
        "create_eager_task_factory."
    )


_EAGER_FACTORY = getattr(asyncio, "eager_task_factory", None)
