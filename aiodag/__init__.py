"""aiodag: asyncio pipelines written as plain function calls.

>>> from aiodag import task
>>> @task
... async def fetch(key): ...
>>> @task
... async def merge(a, b): ...
>>> merge(fetch("a"), fetch("b"))  # scheduled at once; merge waits for both fetches

The engine (this package) uses only the standard library.  ``aiodag.trace`` turns runs
into OpenTelemetry traces, ``aiodag.viz`` draws them with Graphviz.
"""

from .decorator import TaskFunction, task
from .errors import UpstreamError
from .events import (
    Attempt,
    AttemptFailed,
    Dependency,
    DependencyKind,
    Event,
    RunFinished,
    RunStarted,
    TaskCreated,
    TaskFinished,
    TaskStarted,
    TaskStatus,
)
from .handle import TaskHandle
from .outcome import Outcome, outcome
from .runner import run, wait_for_tasks
from .runs import Run, TaskRecord
from .sinks import add_sink, remove_sink
from .typing import Sink

__all__ = [
    "Attempt",
    "AttemptFailed",
    "Dependency",
    "DependencyKind",
    "Event",
    "Outcome",
    "Run",
    "RunFinished",
    "RunStarted",
    "Sink",
    "TaskCreated",
    "TaskFinished",
    "TaskFunction",
    "TaskHandle",
    "TaskRecord",
    "TaskStarted",
    "TaskStatus",
    "UpstreamError",
    "add_sink",
    "outcome",
    "remove_sink",
    "run",
    "task",
    "wait_for_tasks",
]

__version__ = "0.2.0"
