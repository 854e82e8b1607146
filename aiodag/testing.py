"""Helpers for testing code that uses aiodag, and aiodag itself.

>>> from aiodag.testing import RecordingSink
>>> sink = RecordingSink()
>>> async with aiodag.Run("t", sinks=[sink]):
...     fetch("a")
>>> [type(e).__name__ for e in sink.events]
['RunStarted', 'TaskCreated', 'TaskStarted', 'TaskFinished', 'RunFinished']
"""

from __future__ import annotations

from .events import Event, TaskCreated, TaskFinished, TaskStarted

__all__ = ["RecordingSink"]


class RecordingSink:
    """A sink that keeps every event it receives, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of_task(self, task_id: int) -> list[Event]:
        """The events of one task, in order."""
        return [
            e
            for e in self.events
            if isinstance(e, TaskCreated | TaskStarted | TaskFinished) and e.task_id == task_id
        ]

    def kinds(self) -> list[tuple[str, int | None]]:
        """``(event type, task id)`` pairs, for asserting exact sequences."""
        return [(type(e).__name__, getattr(e, "task_id", None)) for e in self.events]
