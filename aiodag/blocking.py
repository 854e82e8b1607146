"""Who blocked the loop: steps that hold the event loop longer than a threshold.

A step of an ``async def`` that computes for a long time, or makes a blocking call,
stops every other task meanwhile: their "waiting for the loop" grows and nobody can
tell why.  asyncio's debug mode (``slow_callback_duration``) reports such steps but
times every callback, which costs too much to leave on.  This watch costs nothing per
task:

* on the loop, a heartbeat callback runs every ``threshold / 2`` seconds;
* a daemon thread looks every ``threshold / 4`` seconds: if the heartbeat is late by
  more than ``threshold / 2``, the loop is stuck in one step, and the thread notes the
  task whose step it is (``asyncio.current_task(loop)``) and the line it is on;
* when the heartbeat runs again, late by ``threshold`` or more, the block is over: it
  is reported, on the loop's thread, to the task's sinks and its run.

A watch serves a loop; :class:`~aiodag.Run` blocks share it (see ``block_threshold``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from typing import Any

from .events import LoopBlocked
from .sinks import emit

__all__ = ["LoopWatch", "unwatch_loop", "watch_loop"]


class LoopWatch:
    """Detects steps that block ``loop`` for ``threshold`` seconds or more."""

    def __init__(self, loop: asyncio.AbstractEventLoop, threshold: float) -> None:
        self.loop = loop
        self.threshold_ns = int(threshold * 1e9)
        self._beat_every = threshold / 2
        self._beat_ns = self.threshold_ns // 2
        self._last_beat = time.monotonic_ns()
        self._loop_thread = threading.get_ident()
        # Written by the watching thread, read (and cleared) by the heartbeat.
        self._culprit: tuple[Any, str] | None = None
        self._users = 0
        self._stopped = threading.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._thread = threading.Thread(
            target=self._watch, name="aiodag-loop-watch", daemon=True
        )

    def start(self) -> None:
        self._timer = self.loop.call_later(self._beat_every, self._beat)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _beat(self) -> None:
        now = time.monotonic_ns()
        late = now - self._last_beat - self._beat_ns
        self._last_beat = now
        culprit, self._culprit = self._culprit, None
        if late >= self.threshold_ns and culprit is not None:
            _report(culprit[0], late, culprit[1], now)
        if not self._stopped.is_set():
            self._timer = self.loop.call_later(self._beat_every, self._beat)

    def _watch(self) -> None:
        check_every = self._beat_every / 2
        while not self._stopped.wait(check_every):
            if self.loop.is_closed():
                return
            late = time.monotonic_ns() - self._last_beat - self._beat_ns
            if late > self._beat_ns and self._culprit is None:
                task = asyncio.current_task(self.loop)
                if task is not None:
                    self._culprit = (task, _where(self._loop_thread))


def _where(thread_id: int) -> str:
    """The line the loop's thread is on, in the innermost frame of user code."""
    frame = sys._current_frames().get(thread_id)
    where = ""
    while frame is not None:
        code = frame.f_code
        where = f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"
        if not code.co_filename.startswith(_NOT_USER_CODE):
            break  # the innermost frame of the user's own code
        frame = frame.f_back
    return where


# The standard library, installed packages and aiodag itself: the line to show is the
# user's that called into them.
_NOT_USER_CODE = (sys.prefix, sys.base_prefix, os.path.dirname(__file__) + os.sep)


def _report(task: Any, late_ns: int, where: str, now: int) -> None:
    from .handle import TaskHandle  # (handle imports this module's users)

    if not isinstance(task, TaskHandle):
        return  # a plain asyncio task: not ours to report
    handle: TaskHandle[Any] = task
    event = LoopBlocked(handle.id, handle.name, late_ns, where, now)
    run = handle._run
    if run is not None:
        run._loop_blocked(event)
    if handle._sinks:
        emit(handle._sinks, event)


_watches: dict[asyncio.AbstractEventLoop, LoopWatch] = {}


def watch_loop(loop: asyncio.AbstractEventLoop, threshold: float) -> LoopWatch:
    """Start (or join) the watch of ``loop``; :func:`unwatch_loop` when done."""
    watch = _watches.get(loop)
    if watch is None or watch._stopped.is_set():
        _watches[loop] = watch = LoopWatch(loop, threshold)
        watch.start()
    watch._users += 1
    return watch


def unwatch_loop(watch: LoopWatch) -> None:
    """Leave a watch; the last user stops it."""
    watch._users -= 1
    if watch._users <= 0:
        watch.stop()
        if _watches.get(watch.loop) is watch:
            del _watches[watch.loop]
