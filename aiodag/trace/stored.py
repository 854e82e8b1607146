"""Runs rebuilt from stored traces: the DAG is in the spans and their links.

:class:`OpenTelemetrySink` writes one span per task — status, label and id as
attributes, one link per dependency — so a stored trace holds the whole DAG.
:func:`read_runs` reads every run in a trace file; each :class:`StoredRun` has the
shape :func:`aiodag.viz.to_graphviz` draws, so a stored run renders exactly as a live
one::

    run = load_run("trace.jsonl")          # the last run in the file
    aiodag.viz.render(run, "pipeline.svg")

Formats read (:data:`FORMATS`): OTLP JSON — the lines ``configure(file=...)`` writes,
or one document, also wrapped in ``{"result": …}`` as Jaeger's ``/api/v3`` answers —
and Jaeger's own JSON — the UI's "Trace JSON" (``/api/traces/{id}``) and search
"Download Results" files, ``{"data": [{"traceID", "spans", "processes"}]}`` — where
tags are the attributes, ``FOLLOWS_FROM`` references the links (the dependencies) and
``CHILD_OF`` the parent.  Jaeger drops link attributes, so there a dependency's kind
comes from the task span's :data:`~aiodag.trace.attributes.TASK_EXOGENOUS_UPSTREAM_IDS`.

The reader works on the parsed JSON directly, one line at a time, and keeps only what
a drawing needs: a trace of 100,000 tasks renders in a few seconds.  Anything it
cannot read — bad JSON, a value of the wrong type, a dependency cycle — raises
:class:`TraceFileError`, whose message names the place and the problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from itertools import pairwise
from operator import attrgetter
from pathlib import Path

from ..analysis import critical_path, status_counts
from ..events import TaskStatus
from . import attributes as attr
from .reading import FORMATS, SpanRecord, TraceFileError, collector_paused, read_spans

__all__ = [
    "FORMATS",
    "StoredBlock",
    "StoredRun",
    "StoredTask",
    "TraceFileError",
    "load_run",
    "read_runs",
]

_DATA = "data"
_EXOGENOUS = "exogenous"


@dataclass(frozen=True, slots=True)
class StoredTask:
    """One task as recorded in a trace (the fields of :class:`aiodag.TaskRecord`).

    Times are seconds since the run began.  There is no exception object, only its
    class name and message (``error_type``, ``error_message``).  ``caller_id`` is the id
    of the task whose body called this one, when the trace records it.  A span written
    without ``aiodag.task.status`` is of a task that ended (spans are written when they
    end): ``ok``, or ``failed`` if the span's status is ERROR.
    """

    id: int
    name: str
    label: str
    status: TaskStatus
    deps: tuple[tuple[int, str], ...]
    started: float | None
    finished: float | None
    error_type: str | None = None
    error_message: str | None = None
    error: None = None
    caller_id: int | None = None
    created: float | None = None
    """When it was called (known for tasks that ran)."""
    ready: float | None = None
    """When its last upstream had finished (tasks of a run that ran)."""
    released_by: int | None = None
    """The upstream whose end made it ready (its last arrival)."""
    attempts: int = 0
    """How many times the body ran, for a task with retries whose first attempt failed
    (``aiodag.task.attempts``); 0 when the trace does not say (it ran once)."""
    timed_out: bool = False
    """It failed by running over its ``timeout`` (``aiodag.task.timed_out``)."""
    limit_wait: float | None = None
    """Seconds it was ready but waited for a slot of a limit (``None``: no limit)."""
    handled: bool = False
    """Whether a failure was handled is decided when the run ends, after the task's span
    was written: a trace does not record it per task (the run span counts them,
    ``aiodag.run.failures_handled``)."""

    @property
    def duration(self) -> float | None:
        """Seconds the body ran (``None`` if it never ran)."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


@dataclass(frozen=True, slots=True)
class StoredBlock:
    """A step that held the event loop, as a trace recorded it (the fields of
    :class:`aiodag.events.LoopBlocked`, with times in seconds since the run began)."""

    task_id: int
    name: str
    duration_ns: int
    where: str
    start: float
    end: float


@dataclass(slots=True)
class StoredRun:
    """A run rebuilt from a trace; drawable with :mod:`aiodag.viz`."""

    name: str
    trace_id: str
    tasks: list[StoredTask]
    makespan: float
    running: bool = False
    loop_blocks: list[StoredBlock] = field(default_factory=list)
    """The steps that held the event loop (the trace's ``aiodag.loop_blocked`` events)."""
    _by_id: dict[int, StoredTask] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {t.id: t for t in self.tasks}

    def task(self, task_id: int) -> StoredTask:
        """The task with id ``task_id``."""
        return self._by_id[task_id]

    def critical_path(self) -> list[StoredTask]:
        """The chain of tasks that decided when the run ended (as ``Run.critical_path``)."""
        return critical_path(self._by_id)

    def counts(self) -> dict[TaskStatus, int]:
        """How many tasks have each status (every status is a key)."""
        return status_counts(self.tasks)


# -- runs ----------------------------------------------------------------------------------


def read_runs(path: str | os.PathLike[str]) -> list[StoredRun]:
    """Every aiodag run in a trace file, in the order the runs began.

    The file is OTLP JSON or Jaeger's JSON (see :data:`FORMATS`).  Raises
    :class:`TraceFileError` for a file it cannot read, naming where and why.
    """
    path = Path(path)
    with collector_paused():  # building the runs allocates as much as reading them
        return _runs(path)


def _runs(path: Path) -> list[StoredRun]:
    spans, total = read_spans(path)
    task_spans = [span for span in spans.values() if span.task_id is not None]
    if not task_spans:
        raise TraceFileError(
            f"{str(path)!r} holds {total} span(s) but none of an aiodag task "
            f"(no {attr.TASK_ID!r} attribute): was it written by aiodag.trace?"
        )
    task_ids = {span.sid: span.task_id for span in task_spans}
    run_spans = {sid: span for sid, span in spans.items() if span.task_id is None}
    # Task spans, grouped by their run's span (or, outside runs, by trace).
    groups: dict[tuple[str, str], list[SpanRecord]] = {}
    for span in task_spans:
        parent = span.parent
        key = ("run", parent) if parent is not None and parent in run_spans else ("trace",
                                                                                span.trace)
        members = groups.get(key)
        if members is None:
            members = groups[key] = []
        members.append(span)

    runs: list[tuple[int, StoredRun]] = []
    for key, members in groups.items():
        run_span = run_spans.get(key[1]) if key[0] == "run" else None
        if run_span is not None:
            start = run_span.start
            name = run_span.run_name if run_span.run_name is not None else run_span.name
        else:
            # A run still going (its span not yet written), or tasks outside any run.
            start = min(span.start for span in members)
            name = members[0].run_name or f"tasks of trace {key[1][:8]}"
        tasks = [_task(span, task_ids, start) for span in members]
        _task_by_span = {id(span): task for span, task in zip(members, tasks, strict=True)}
        tasks.sort(key=_BY_ID)
        _check_ids(tasks, name, path)
        if run_span is not None and run_span.makespan is not None:
            makespan = run_span.makespan
        else:
            makespan = max((t.finished or 0.0 for t in tasks), default=0.0)
        blocks = [
            StoredBlock(task.id, task.name, int(seconds * 1e9), where,
                        (when - start) / 1e9 - seconds, (when - start) / 1e9)
            for span, task in zip(members, [_task_by_span[id(m)] for m in members],
                                  strict=True)
            for when, seconds, where in span.blocks
        ] if any(span.blocks for span in members) else []
        runs.append((start, StoredRun(name, members[0].trace, tasks, makespan,
                                      loop_blocks=blocks)))
    runs.sort(key=lambda pair: pair[0])
    return [run for _start, run in runs]


_BY_ID = attrgetter("id")
_STATUSES = {status.value: status for status in TaskStatus}


def _task(span: SpanRecord, task_ids: dict[str, int | None], run_start: int) -> StoredTask:
    task_id = span.task_id
    assert task_id is not None
    status_text = span.status
    if status_text is None:  # spans are written when they end: the task ended
        status = TaskStatus.FAILED if span.failed else TaskStatus.OK
    else:  # a status aiodag does not write is some kind of failure
        status = _STATUSES.get(status_text, TaskStatus.FAILED)
    exogenous = span.exogenous
    deps: list[tuple[int, str]] = []
    for link_sid, kind in span.links:
        upstream = task_ids.get(link_sid)
        if upstream is None:
            continue  # a link to a span that is not an aiodag task's
        if kind is None:
            kind = _EXOGENOUS if exogenous is not None and upstream in exogenous else _DATA
        else:
            kind = _EXOGENOUS if kind == _EXOGENOUS else _DATA
        deps.append((upstream, kind))
    error_type = error_message = None
    if status in (TaskStatus.FAILED, TaskStatus.UPSTREAM_FAILED):
        error_message = span.error_message or None
        if span.error_type is not None:
            # The SDK records "module.QualName"; a live run shows the class's own name.
            error_type = span.error_type.rpartition(".")[2] or span.error_type
    started = (span.start - run_start) / 1e9 if span.ran else None
    return StoredTask(
        id=task_id,
        name=span.name,
        label=span.label if span.label is not None else span.name,
        status=status,
        deps=tuple(deps),
        started=started,
        finished=(span.end - run_start) / 1e9,
        error_type=error_type,
        error_message=error_message,
        caller_id=span.caller_id,
        created=None if started is None or span.wait_s is None else started - span.wait_s,
        ready=None if started is None or span.loop_wait_s is None
        else started - span.loop_wait_s - (span.limit_wait_s or 0.0),
        limit_wait=span.limit_wait_s,
        released_by=span.released_by,
        attempts=span.attempts or 0,
        timed_out=span.timed_out,
    )


def _check_ids(tasks: list[StoredTask], name: str, path: Path) -> None:
    """Refuse two tasks with one id, and dependency cycles: aiodag writes neither."""
    for before, after in pairwise(tasks):
        if before.id == after.id:
            raise TraceFileError(
                f"{str(path)!r}: run {name!r} has two task spans with id {after.id} "
                f"({before.label!r} and {after.label!r}); aiodag never writes that"
            )
    # An upstream is always called before its dependent, so its id is smaller: a run
    # whose every dependency points to a smaller id has no cycle (the usual case).
    if all(up < task.id for task in tasks for up, _kind in task.deps):
        return
    cycle = _find_cycle(tasks)
    if cycle:
        chain = " → ".join(f"{t.label} (id {t.id})" for t in cycle[:6])
        more = " → …" if len(cycle) > 6 else ""
        raise TraceFileError(
            f"{str(path)!r}: the dependencies of run {name!r} form a cycle: {chain}{more} "
            f"→ back; a DAG has none, and aiodag never writes one"
        )


def _find_cycle(tasks: list[StoredTask]) -> list[StoredTask]:
    """One dependency cycle among ``tasks`` (first to last), or ``[]``; iterative DFS."""
    by_id = {task.id: task for task in tasks}
    state: dict[int, int] = {}  # 1: on the current path, 2: done
    for root in tasks:
        if root.id in state:
            continue
        path = [root]
        iters = [iter(root.deps)]
        state[root.id] = 1
        while path:
            for up, _kind in iters[-1]:
                upstream = by_id.get(up)
                if upstream is None:
                    continue
                seen = state.get(up)
                if seen == 1:
                    return path[[t.id for t in path].index(up):]
                if seen is None:
                    state[up] = 1
                    path.append(upstream)
                    iters.append(iter(upstream.deps))
                    break
            else:
                state[path.pop().id] = 2
                iters.pop()
    return []


def load_run(path: str | os.PathLike[str], name: str | None = None) -> StoredRun:
    """The run called ``name`` in a trace file (the last one of that name), or the last run."""
    runs = read_runs(path)
    if name is None:
        return runs[-1]
    for run in reversed(runs):
        if run.name == name:
            return run
    names = ", ".join(sorted({repr(r.name) for r in runs}))
    raise TraceFileError(f"no run named {name!r} in {str(path)!r} (runs there: {names})")
