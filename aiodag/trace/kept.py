"""What :class:`~aiodag.trace.OpenTelemetrySink` keeps of runs and tasks between events.

Kept small on purpose: with the garbage collector on, every object the sink keeps per
task is walked again at each full collection while the run lives, and what lives
through the calling of a big DAG is promoted to the oldest generation, where it brings
the next full collection nearer (measured in ``bench/bench_trace.py``).  So:

* a task of a run the sink follows has **no** state until its body starts or it ends:
  its record in the run (:meth:`aiodag.Run.task`) holds its name, label, call time and
  dependencies, so :class:`TaskState` is then made from the record, used and dropped;
* a task outside a run, or with an upstream outside its run (or with ``capture_args``),
  gets its :class:`TaskState` at the call, holding its upstreams' entries, since an
  upstream's handle may be gone by the time the task starts;
* a task whose body started is one :class:`Started`: a weak reference to its handle
  holding its span's context, for dependents called later, and dropped with the handle
  (or, for a task of a run, when the run ends, if the handle went first: a dependent in
  the run may still need it).
"""

from __future__ import annotations

import asyncio
import weakref
from contextvars import Token
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span

from ..events import CLOCK_ANCHOR, Dependency, TaskCreated, TaskFinished
from ..records import TaskRecord
from ..runs import Run

__all__ = ["NO_HANDLE", "Entry", "HandleRef", "Parked", "RunState", "Started", "TaskState"]

CLOCK_OFFSET = CLOCK_ANCHOR.wall_ns - CLOCK_ANCHOR.mono_ns
"""Tasks outside any run are timed with the process-wide anchor."""


class RunState:
    """What the sink keeps of a run between ``RunStarted`` and ``RunFinished``."""

    __slots__ = ("context", "dead", "dropped_before", "finished", "name", "offset", "run",
                 "span")

    def __init__(self, run: Run, span: Span, offset: int) -> None:
        self.run = run  # its records hold what the task spans need
        self.span = span
        self.context = trace.set_span_in_context(span)  # the parent of its task spans
        self.name = run.name
        self.offset = offset  # event ts + offset = wall-clock ns
        self.dropped_before = 0  # spans the provider had dropped when the run began
        self.finished = False
        # Tasks whose handles went while the run was going on: their entries stay until
        # it ends, for dependents in the run that have no state yet to hold them.
        self.dead: list[int] = []


class TaskState:
    """What the sink holds of a task until its span is out.

    Once it is, ``link`` (to the span) is all that dependents holding this read;
    the task's entry in the sink becomes its :class:`Started` (or, for a task that never
    ran, stays this, with ``ref`` watching the handle).  ``ups`` are the upstreams'
    entries, or ``None`` while they are to be looked up (a task of a run, made from its
    record).
    """

    __slots__ = ("args", "caller_id", "deps", "exogenous", "id", "label", "link", "name",
                 "parent", "parked", "pending", "ref", "run", "ts", "ups", "waiters")

    def __init__(
        self,
        task_id: int,
        name: str,
        label: str,
        ts: int,
        caller_id: int | None,
        deps: tuple[Dependency, ...],
        run: RunState | None,
    ) -> None:
        self.id = task_id
        self.name = name
        self.label = label
        self.ts = ts  # when it was called
        self.caller_id = caller_id
        self.deps = deps
        self.run = run
        self.pending = True  # False once the span is out
        self.parent: Context | None = None  # outside a run: the context current at the call
        self.ups: list[Entry] | None = None
        self.exogenous: list[int] | None = None  # the ids of exogenous upstreams, if any
        self.args: TaskCreated | None = None  # with capture_args: the call's reprs
        self.link: Link | None = None
        self.ref: HandleRef | None = None
        self.parked: Parked | None = None  # never ran, and waits for upstream spans
        self.waiters: list[TaskState] | None = None  # parked tasks waiting for this one

    @classmethod
    def of_event(cls, event: TaskCreated, run: RunState | None) -> TaskState:
        """The state of a task from its ``TaskCreated``."""
        return cls(event.task_id, event.name, event.label, event.ts, event.caller_id,
                   event.deps, run)

    @classmethod
    def of_record(cls, record: TaskRecord, run: RunState) -> TaskState:
        """The state of a task of ``run`` from its record (its upstreams looked up later)."""
        return cls(record.id, record.name, record.label, record.created_ns,
                   record.caller_id, record.deps, run)

    @property
    def offset(self) -> int:
        """Add to an event timestamp of this task to get wall-clock nanoseconds."""
        return CLOCK_OFFSET if self.run is None else self.run.offset

    @property
    def parent_context(self) -> Context | None:
        """The context holding the parent span: the run's, or the caller's."""
        return self.parent if self.run is None else self.run.context


class Started(weakref.ref[Any]):
    """A task whose body started: a weak reference to its handle, holding its span.

    One object per task for as long as its handle lives (the sink keeps it only so that
    a dependent called later can link to its span); its callback drops the entry.
    ``span`` and ``token`` are set while the body runs.

    ``link`` is the one :class:`~opentelemetry.trace.Link` to the span that every
    dependent's span is given: a link without attributes is the same for all of them,
    and one made per dependency is two more objects per span for the garbage collector
    (measured: a shared link is cheaper, though the SDK gives it new, empty attributes
    each time it is handed one, and it keeps the last).
    """

    __slots__ = ("id", "link", "offset", "run", "span", "token")
    link: Link
    id: int
    offset: int  # event ts + offset = wall-clock ns
    run: RunState | None
    span: Span | None
    token: Token[Context] | None  # from context.attach, while the body runs


class HandleRef(weakref.ref[asyncio.Task[Any]]):
    """A weak reference to the handle of a task that never ran."""

    __slots__ = ("id", "run")
    id: int
    run: RunState | None


Entry = TaskState | Started
"""What the sink holds of a task, by id."""


class Parked:
    """A task that never ran, whose zero-length span waits for upstream spans."""

    __slots__ = ("finished", "missing")

    def __init__(self, finished: TaskFinished, missing: int) -> None:
        self.finished = finished
        self.missing = missing


class _NoHandle:
    """Stands for the handle of a task started outside any asyncio task (never in
    practice): never collected, so such a task is never forgotten."""


NO_HANDLE = _NoHandle()
