"""Who blocked the loop: steps that hold the event loop longer than a threshold.

A step of an ``async def`` that computes for a long time, or makes a blocking call,
stops every other task meanwhile: their "waiting for the loop" grows and nobody can
tell why.  asyncio's debug mode (``slow_callback_duration``) reports such steps but
times every callback, which costs too much to leave on.  This watch costs nothing per
task:

* on the loop, a heartbeat callback runs every ``threshold / 4`` seconds;
* a daemon thread looks every ``threshold / 8`` seconds: if the heartbeat is late, the
  loop is stuck in one step, and the thread notes the task whose step it is
  (``asyncio.current_task(loop)``) and the line it is on;
* when the task ends, or the heartbeat runs again, the block is over: if it lasted
  about ``threshold`` or more, and the thread saw the same task on the same line for at
  least half of that (one step, not many short ones), it is reported, on the loop's
  thread, to the task's sinks and its run.  Durations are measured to within
  ``threshold / 8``.

A watch serves a loop; :class:`~aiodag.Run` blocks share it (see ``block_threshold``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import sysconfig
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
        self._loop_thread = threading.get_ident()
        self._set_threshold(threshold)
        self._last_beat = time.monotonic_ns()
        # Written by the watching thread, read (and cleared) on the loop's thread: the
        # task whose step holds the loop, where it is, when it was first and last seen.
        self._culprit: tuple[Any, str, int, int] | None = None
        self._thresholds: list[float] = []
        self._stopped = threading.Event()
        self._wake = threading.Event()  # set to make the thread look again at once
        self._timer: asyncio.TimerHandle | None = None
        self._thread = threading.Thread(
            target=self._watch, name="aiodag-loop-watch", daemon=True
        )

    def _set_threshold(self, threshold: float) -> None:
        self.threshold_ns = int(threshold * 1e9)
        self._beat_every = threshold / 4
        self._beat_ns = self.threshold_ns // 4

    def start(self) -> None:
        self._timer = self.loop.call_later(self._beat_every, self._beat)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def flush(self) -> None:
        """Report now a block that has just ended (the end of its task or of a run comes
        before the next heartbeat would)."""
        if self._culprit is not None:
            self._check(time.monotonic_ns())

    def _beat(self) -> None:
        now = time.monotonic_ns()
        self._check(now)
        self._last_beat = now
        if not self._stopped.is_set():
            self._timer = self.loop.call_later(self._beat_every, self._beat)

    def _check(self, now: int) -> None:
        # The heartbeat is due every `beat` ns; a step of B ns makes it late by between
        # B - beat and B, so B is about late + beat / 2.
        late = now - self._last_beat - self._beat_ns
        culprit, self._culprit = self._culprit, None
        if culprit is None:
            return
        task, where, first_seen, last_seen = culprit
        blocked = late + self._beat_ns // 2
        # Seen in the same step for half the threshold: one step, not many short ones.
        if blocked >= self.threshold_ns and last_seen - first_seen >= self.threshold_ns // 2:
            self._last_beat = now  # reported once
            _report(task, blocked, where, now)

    def _retune(self, threshold: float) -> None:
        """Watch at another threshold from now on (on the loop's thread)."""
        self._set_threshold(threshold)
        self._wake.set()  # the thread may be sleeping for the old threshold's interval
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self.loop.call_later(self._beat_every, self._beat)

    def _watch(self) -> None:
        while True:
            self._wake.wait(self._beat_every / 2)
            self._wake.clear()
            if self._stopped.is_set() or self.loop.is_closed():
                return
            now = time.monotonic_ns()
            if now - self._last_beat - self._beat_ns <= self._beat_ns:
                continue  # the loop is keeping up
            task = asyncio.current_task(self.loop)
            if task is None:
                continue
            where = _where(self._loop_thread)
            culprit = self._culprit
            if culprit is not None and culprit[0] is task and culprit[1] == where:
                self._culprit = (task, where, culprit[2], now)
            else:
                self._culprit = (task, where, now, now)  # a new step (or the first seen)


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
_NOT_USER_CODE = tuple(
    path.rstrip(os.sep) + os.sep
    for path in (*sysconfig.get_paths().values(), sys.prefix, sys.base_prefix,
                 os.path.dirname(__file__))
)


def _report(task: Any, late_ns: int, where: str, now: int) -> None:
    sinks = getattr(task, "_sinks", None)
    if sinks is None:
        return  # a plain asyncio task: not ours to report (only handles have sinks)
    event = LoopBlocked(task.id, task.name, late_ns, where, now)
    run = task._run
    if run is not None:
        run._loop_blocked(event)
    if sinks:
        emit(sinks, event)


_WATCH = "_aiodag_watch"
"""The loop attribute holding its watch: it goes with the loop (a module-level table
would keep a closed loop, and everything pending on it, alive)."""


def watch_loop(loop: asyncio.AbstractEventLoop, threshold: float) -> LoopWatch:
    """Start (or join) the watch of ``loop``; :func:`unwatch_loop` when done.

    Runs sharing a loop share its watch, which watches at the smallest threshold among
    them; each run keeps only the blocks that reach its own threshold.
    """
    watch: LoopWatch | None = getattr(loop, _WATCH, None)
    if watch is None or watch._stopped.is_set():
        watch = LoopWatch(loop, threshold)
        setattr(loop, _WATCH, watch)
        watch.start()
    watch._thresholds.append(threshold)
    if threshold < min(watch._thresholds[:-1], default=float("inf")):
        watch._retune(threshold)
    return watch


def unwatch_loop(watch: LoopWatch, threshold: float) -> None:
    """Leave a watch; the last user stops it."""
    watch.flush()
    watch._thresholds.remove(threshold)
    if not watch._thresholds:
        watch.stop()
        if getattr(watch.loop, _WATCH, None) is watch:
            delattr(watch.loop, _WATCH)
    elif min(watch._thresholds) * 1e9 != watch.threshold_ns:
        watch._retune(min(watch._thresholds))
