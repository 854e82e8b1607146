"""What the engine reads of a handle's state: its phase, and asyncio's own future
methods, called directly.

Calling ``asyncio.Future``'s C methods rather than the handle's skips the handle's
Python-level overrides (:mod:`aiodag.unstarted`), and keeps the engine's own reads from
counting as the user's (:func:`aiodag.errors.is_handled` is about the user's reads).
"""

from __future__ import annotations

import asyncio
import operator

__all__ = ["SETTLED", "STARTED", "WAITING"]

# A handle's phase: waiting for upstreams (not yet an asyncio task) / started (an
# asyncio task running its body) / settled (done, and its end reported).
WAITING, STARTED, SETTLED = 0, 1, 2

done = asyncio.Future.done
cancelled = asyncio.Future.cancelled
result = asyncio.Future.result
exception = asyncio.Future.exception
stored_error = operator.attrgetter("_exception")
"""A done future's exception, read without marking it retrieved: asyncio still reports
a failure nobody retrieved (the one private attribute the engine reads; the C and the
Python futures both have it)."""
