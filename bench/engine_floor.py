"""The floor of aiodag's design: what an engine built as aiodag is costs with nothing else.

bench_engine.py's line (f).  The same layered DAG as the other lines, run by the least
code that keeps aiodag's design: a handle is an ``asyncio.Task`` object made at the call
whose ``Task.__init__`` waits until its last upstream has ended (its upstreams count
down on it); then its body is called with their results and becomes the task's
coroutine, started eagerly on 3.12+ when an upstream's end starts it.  A task's end is
settled as aiodag settles it: by its done-callback, or at once for a body that ended in
its first step (in a queue rather than by recursion).  Each task gets its own copy of the
context, as asyncio's do.  With ``record=True`` it also keeps what a ``Run`` must: a row
of integers per task (its id, when it was called, started and ended, and where its
upstreams' ids end in one flat array), the start and end taken where they happen by a
coroutine around the body, as aiodag's ``Run`` takes them.

It is the floor of this design, not of every design: settling a task at the end of its
own coroutine, rather than by a done-callback a loop step later, costs less at this
floor (on 3.11, and with bodies that suspend on 3.12).  Built into aiodag (branch
``experiment/settle-within``), that variant improved no line of the bench beyond the
noise, and made (b) on 3.11 slower (the README's performance section has the figures);
it also tells a task's dependents, run and sinks of its end before asyncio has set its
result.  aiodag settles by done-callback.

Left out is everything else aiodag does for a task: its place in ``all_tasks()`` while it
waits, the strong reference that keeps it alive, statuses, failures and cancellation
passed on, labels, ids, runs and sinks, a bound on eager nesting, debug-mode stacks.  So
(f) is not a baseline to beat but the distance the design itself leaves: how far (b)
is from it is the price of those semantics.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import time
from array import array
from typing import Any

_EAGER: dict[str, Any] = {"eager_start": True} if sys.version_info >= (3, 12) else {}
_init = asyncio.Task.__init__
_done = asyncio.Future.done
_result = asyncio.Future.result
_add_done_callback = asyncio.Future.add_done_callback
_WAITING, _STARTED = 0, 1
_now = time.monotonic_ns


class FloorHandle(asyncio.Task[Any]):
    __slots__ = ("ctx", "dependents", "fn", "pending", "phase", "row", "ups")


class FloorEngine:
    """One run of the layered DAG on the running loop; ``finished`` is done when
    ``expected`` handles have ended."""

    def __init__(self, expected: int, record: bool = False) -> None:
        self.loop = asyncio.get_running_loop()
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self.left = expected
        self.queue: list[FloorHandle] | None = None
        self.record = record
        self.cells = array("q")  # 5 per task: id, called, started, ended, end of its deps
        self.dep_ids = array("q")

    async def _timed(self, row: int, coro: Any) -> Any:
        cells = self.cells
        cells[row + 2] = _now()
        try:
            return await coro
        finally:
            cells[row + 3] = _now()

    def call(self, fn: Any, *ups: FloorHandle) -> FloorHandle:
        handle = FloorHandle.__new__(FloorHandle)
        handle.phase = _WAITING
        handle.dependents = None
        handle.ctx = contextvars.copy_context()
        if self.record:
            handle.row = len(self.cells)
            self.dep_ids.extend([id(up) for up in ups])
            self.cells.extend((id(handle), _now(), -1, -1, len(self.dep_ids)))
        pending = 0
        for up in ups:
            if up.phase == _WAITING or not _done(up):
                pending += 1
                if up.dependents is None:
                    up.dependents = [handle]
                else:
                    up.dependents.append(handle)
        if pending:
            handle.pending, handle.fn, handle.ups = pending, fn, ups
        else:  # called by user code: started as asyncio starts a task (not eagerly)
            self.start(handle, fn, ups, eager=False)
        return handle

    def start(self, handle: FloorHandle, fn: Any, ups: tuple[FloorHandle, ...],
              eager: bool = True) -> None:
        handle.phase = _STARTED
        coro = fn(*map(_result, ups))
        if self.record:
            coro = self._timed(handle.row, coro)
        if eager:
            _init(handle, coro, loop=self.loop, context=handle.ctx, **_EAGER)
            if _done(handle):
                self.settle(handle)
                return
        else:
            _init(handle, coro, loop=self.loop, context=handle.ctx)
        _add_done_callback(handle, self.settle, context=handle.ctx)

    def settle(self, first: Any) -> None:
        if self.queue is not None:  # settling already: the outer call takes it
            self.queue.append(first)
            return
        self.queue = queue = [first]
        for handle in queue:
            self.left -= 1
            for dependent in handle.dependents or ():
                dependent.pending -= 1
                if not dependent.pending:
                    self.start(dependent, dependent.fn, dependent.ups)
        self.queue = None
        if not self.left:
            self.finished.set_result(None)
