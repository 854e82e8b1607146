"""A live progress display for a run: a sink counting tasks by state (and the retries
of tasks with ``retries``, once there are any).

On a terminal it draws a ``rich`` status line (tasks per status, elapsed) that refreshes
itself; elsewhere (a log, a pipe, CI) it prints a plain line at most once per
``interval`` seconds and a last one when the run ends, unless the counts in the line
just printed were already the final ones.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from ..events import (
    AttemptFailed,
    Event,
    RunFinished,
    TaskCreated,
    TaskFinished,
    TaskStarted,
    TaskStatus,
)

__all__ = ["Progress"]

_ENDED = tuple(status for status in TaskStatus if status.is_terminal)


class Progress:
    """A sink (and context manager) showing how far a run has got."""

    def __init__(self, stream: TextIO | None = None, *, interval: float = 1.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.pending = self.running = 0
        self.ended = dict.fromkeys(_ENDED, 0)
        """Tasks that ended, per terminal status."""
        self.retries = 0
        """Failed attempts after which a retry was scheduled (a task cancelled while it
        waits to retry counts too); the line shows them once there are any."""
        self._printed: tuple[int, ...] | None = None  # the counts of the last plain line
        self._start = time.monotonic()
        self._last_line = 0.0
        self._console = Console(file=self.stream)
        self._live: Live | None = None
        self._running_ids: set[int] = set()

    @property
    def failed(self) -> int:
        """Tasks whose own code raised."""
        return self.ended[TaskStatus.FAILED]

    def _counts(self) -> tuple[int, ...]:
        return (self.running, self.pending, *self.ended.values(), self.retries)

    def line(self) -> str:
        """The current state in one line: tasks per status (ok first), elapsed time."""
        elapsed = time.monotonic() - self._start
        ended = self.ended
        return (
            f"ok {ended[TaskStatus.OK]}  running {self.running}  pending {self.pending}  "
            f"failed {ended[TaskStatus.FAILED]}  "
            f"upstream_failed {ended[TaskStatus.UPSTREAM_FAILED]}  "
            f"cancelled {ended[TaskStatus.CANCELLED]}  "
            + (f"retries {self.retries}  " if self.retries else "")
            + f"elapsed {elapsed:.1f}s"
        )

    def __enter__(self) -> Progress:
        self._start = self._last_line = time.monotonic()
        if self._console.is_terminal:
            # Live redraws from its own thread, reading these counters.
            self._live = Live(self._render(), console=self._console,
                              refresh_per_second=8, get_renderable=self._render,
                              transient=False)
            self._live.start()
        return self

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        elif self._printed != self._counts():
            self._print_line()

    def _render(self) -> Text:
        return Text(self.line(), style="bold red" if self.failed else "bold")

    def _print_line(self) -> None:
        self._last_line = time.monotonic()
        self._printed = self._counts()
        print(self.line(), file=self.stream, flush=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, TaskCreated):
            self.pending += 1
        elif isinstance(event, TaskStarted):
            self._running_ids.add(event.task_id)
            self.pending -= 1
            self.running += 1
        elif isinstance(event, TaskFinished):
            # A task that never started leaves "pending", one that ran leaves "running".
            if event.task_id in self._running_ids:
                self._running_ids.discard(event.task_id)
                self.running -= 1
            else:
                self.pending -= 1
            self.ended[event.status] += 1
        elif isinstance(event, AttemptFailed):
            if event.retry_in is None:
                return  # the task's last attempt: its TaskFinished counts it
            self.retries += 1
        elif isinstance(event, RunFinished):
            return
        if self._live is None and time.monotonic() - self._last_line >= self.interval:
            self._print_line()
