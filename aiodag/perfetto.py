"""A run as a Chrome / Perfetto JSON trace: ui.perfetto.dev and chrome://tracing open it.

::

    from aiodag import perfetto
    perfetto.write(run, "run.perfetto.json")       # a live Run or a stored one

What the trace holds (the Trace Event Format, "JSON Object Format"):

* one process named after the run, and in it one thread ("lane") per row of tasks of
  one name — packed so that no two tasks on a thread overlap, as the format requires;
* a complete event (``"ph": "X"``) per task that ran, named by its label, with its
  id, name, status, upstreams (and error; when it was called, ``created_s``, and, where
  the record has it, when its last upstream finished, ``ready_s``; how many attempts a
  retried task took) in ``args``; a task still running lasts until now;
* inside the slice of a task that was retried, a slice per attempt ("attempt 2", with
  its error and whether it timed out), where the record has them (a live run's does;
  a run read back from a trace knows only their number).  Perfetto binds a flow to the
  slice on top of the thread's stack, so the arrows leaving a retried task leave from
  its last attempt (the one whose value its dependents got);
* a flow (``"s"`` at the end of the upstream, ``"f"`` with ``"bp": "e"`` at the start
  of the dependent) per dependency whose both ends ran — Perfetto draws it as an arrow
  from the upstream's slice to the dependent's.  Flows along the critical path have the
  category ``critical_path``, the others ``dependency``;
* the critical path again, on its own thread at the top ("critical path"), and
  ``"critical": true`` in the args of its tasks' slices;
* tasks that never ran (an upstream failed, or cancelled first) as instant events on a
  thread of their own, at the moment they were settled;
* ``otherData``: the run's name, makespan, task counts, critical path, and how many
  dependencies have no flow because an end never ran — nothing is dropped unsaid.

Times are microseconds since the run began.  It reads any object shaped like
:class:`aiodag.Run` (a run rebuilt from a stored trace with
:func:`aiodag.trace.stored.load_run` too).  It sits beside the engine, not in
:mod:`aiodag.trace`, because it needs the standard library only: importing anything
under ``aiodag.trace`` loads the OpenTelemetry SDK, which writing a JSON file does not
need (``pip install aiodag`` is enough).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import tempfile
from collections import Counter
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any, Protocol

from .analysis import TimedRecord, attempt_count
from .errors import exception_message
from .events import TaskStatus
from .lanes import pack_lanes_by_group

__all__ = ["to_trace_json", "write"]

PID = 1
CRITICAL_TID = 1
"""The thread showing the critical path, above the lanes."""
_FIRST_LANE_TID = 2

# Trace viewer's reserved colour names (Perfetto chooses its own colours).
_CNAME = {
    TaskStatus.FAILED: "terrible",
    TaskStatus.UPSTREAM_FAILED: "bad",
    TaskStatus.CANCELLED: "grey",
}


class _Task(TimedRecord, Protocol):
    @property
    def name(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def status(self) -> str: ...


class _Run(Protocol):
    """What is read of a run: :class:`aiodag.Run` and ``StoredRun`` both have it."""

    @property
    def name(self) -> str: ...
    @property
    def tasks(self) -> Sequence[_Task]: ...
    @property
    def makespan(self) -> float: ...
    @property
    def running(self) -> bool: ...
    def critical_path(self) -> Sequence[_Task]: ...


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def _us(ns: int) -> float:
    """Microseconds, exact to the nanosecond (the trace processor reads ns from µs)."""
    return ns / 1000


def _error_text(task: _Task) -> str | None:
    type_name = getattr(task, "error_type", None)
    message = getattr(task, "error_message", None)
    error = getattr(task, "error", None)
    if isinstance(error, BaseException):
        type_name = type_name or type(error).__name__
        message = message if message is not None else exception_message(error)
    if not type_name and not message:
        return None
    return f"{type_name or 'error'}: {message or ''}".rstrip(": ")


def to_trace_json(run: _Run) -> dict[str, Any]:
    """``run`` as a Trace Event Format object (``{"traceEvents": [...], ...}``)."""
    tasks = list(run.tasks)
    makespan_ns = _ns(float(run.makespan))
    running = bool(run.running)
    statuses = {t.id: TaskStatus(t.status) for t in tasks}
    critical = [] if running else [t.id for t in run.critical_path()]
    on_path = set(critical)
    critical_edges = set(itertools.pairwise(critical))

    # When each task that ran began and ended, in ns (a running task: until now).
    spans: dict[Hashable, tuple[int, int]] = {}
    for t in tasks:
        if t.started is None:
            continue
        begin = _ns(t.started)
        end = _ns(t.finished) if t.finished is not None else max(makespan_ns, begin)
        spans[t.id] = (begin, max(end, begin))
    ran = [t for t in tasks if t.id in spans]
    lanes = pack_lanes_by_group([spans[t.id] for t in ran], [t.name for t in ran])
    tid = {t.id: _FIRST_LANE_TID + row for t, row in zip(ran, lanes.row, strict=True)}
    never_ran_tid = _FIRST_LANE_TID + lanes.rows

    events: list[dict[str, Any]] = [
        _meta("process_name", {"name": f"aiodag run {run.name}"}),
        _meta("thread_name", {"name": "critical path"}, CRITICAL_TID),
        _meta("thread_sort_index", {"sort_index": CRITICAL_TID}, CRITICAL_TID),
    ]
    for group, first, count in lanes.groups:
        for lane in range(count):
            thread = _FIRST_LANE_TID + first + lane
            suffix = f" {lane + 1}" if count > 1 else ""
            events.append(_meta("thread_name", {"name": f"{group}{suffix}"}, thread))
            events.append(_meta("thread_sort_index", {"sort_index": thread}, thread))

    for t in ran:
        begin, end = spans[t.id]
        events.append(_slice(t, statuses[t.id], begin, end, tid[t.id], critical=t.id in on_path))
        events.extend(_attempt_slices(t, statuses[t.id], begin, end, tid[t.id]))
    by_id = {t.id: t for t in tasks}
    for t_id in critical:
        if t_id in spans:
            begin, end = spans[t_id]
            slice_ = _slice(by_id[t_id], statuses[t_id], begin, end, CRITICAL_TID, critical=True)
            slice_["cat"] = "critical_path"
            events.append(slice_)

    never_ran = [t for t in tasks if t.id not in spans and t.finished is not None]
    if never_ran:
        events.append(_meta("thread_name", {"name": "did not run"}, never_ran_tid))
        events.append(_meta("thread_sort_index", {"sort_index": never_ran_tid}, never_ran_tid))
    for t in never_ran:
        assert t.finished is not None
        events.append({
            "name": t.label, "cat": "task", "ph": "i", "s": "t",
            "ts": _us(_ns(t.finished)), "pid": PID, "tid": never_ran_tid,
            "args": _args(t, statuses[t.id], critical=False),
        })

    flows, unflowed = _flows(tasks, spans, tid, critical_edges)
    events.extend(flows)
    counts = Counter(statuses.values())
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "aiodag.run.name": run.name,
            "aiodag.run.makespan_s": run.makespan,
            "aiodag.run.running": running,
            "aiodag.run.tasks": len(tasks),
            **{f"aiodag.run.tasks.{status}": n for status, n in counts.items() if n},
            "aiodag.run.critical_path": [by_id[i].label for i in critical],
            "aiodag.run.dependencies_without_flow": unflowed,
        },
    }


def _meta(name: str, args: dict[str, Any], tid: int = 0) -> dict[str, Any]:
    return {"name": name, "ph": "M", "pid": PID, "tid": tid, "args": args}


def _args(task: _Task, status: TaskStatus, *, critical: bool) -> dict[str, Any]:
    args: dict[str, Any] = {"id": _json_id(task.id), "name": task.name, "status": str(status)}
    if critical:
        args["critical"] = True
    error = _error_text(task) if status in (TaskStatus.FAILED, TaskStatus.UPSTREAM_FAILED) else None
    if error:
        args["error"] = error
    if task.deps:
        args["upstreams"] = [_json_id(up) for up, _kind in task.deps]
    attempts = attempt_count(task)
    if attempts > 1 or _retried_attempts(task, status):
        args["attempts"] = attempts
    # When it was called and, where the record has it, when its last upstream finished
    # (seconds since the run began): the wait before the slice, explained.
    for name in ("created", "ready"):
        value = getattr(task, name, None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            args[f"{name}_s"] = round(float(value), 9)
    return args


def _retried_attempts(task: _Task, status: TaskStatus) -> tuple[Any, ...]:
    """A live record's attempts, if a retry followed one of them: two or more, or one
    that failed in a task that did not end with that failure (cancelled before its
    retry ran).  A single attempt that was the task's own end (it returned, failed the
    task, or was cancelled while it ran) is the task's slice."""
    attempts = getattr(task, "attempts", ())
    if isinstance(attempts, int) or not attempts:
        return ()
    if len(attempts) == 1 and (attempts[0].error is None or status is TaskStatus.FAILED
                               or isinstance(attempts[0].error, asyncio.CancelledError)):
        return ()
    return tuple(attempts)


def _attempt_slices(task: _Task, status: TaskStatus, begin: int, end: int,
                    tid: int) -> list[dict[str, Any]]:
    """A slice per attempt of a retried task, nested in its slice (kept inside it, so
    the format's nesting holds even where clocks were read a nanosecond apart)."""
    attempts = _retried_attempts(task, status)
    run_start = getattr(task, "run_start_ns", None)
    if not attempts or not isinstance(run_start, int):
        return []
    slices = []
    for attempt in attempts:
        first = min(max(attempt.started_ns - run_start, begin), end)
        last = min(max(attempt.finished_ns - run_start, first), end)
        args: dict[str, Any] = {"id": _json_id(task.id), "attempt": attempt.number}
        if attempt.error is not None:
            message = exception_message(attempt.error)
            kind = type(attempt.error).__name__
            args["error"] = f"{kind}: {message}" if message else kind
        if attempt.timed_out:
            args["timed_out"] = True
        slice_: dict[str, Any] = {
            "name": f"attempt {attempt.number}", "cat": "attempt", "ph": "X",
            "ts": _us(first), "dur": _us(last - first), "pid": PID, "tid": tid, "args": args,
        }
        if attempt.error is not None:
            cancelled = isinstance(attempt.error, asyncio.CancelledError)
            slice_["cname"] = _CNAME[TaskStatus.CANCELLED if cancelled else TaskStatus.FAILED]
        slices.append(slice_)
    return slices


def _json_id(task_id: Hashable) -> Any:
    return task_id if isinstance(task_id, int | str) else str(task_id)


def _slice(task: _Task, status: TaskStatus, begin: int, end: int, tid: int,
           *, critical: bool) -> dict[str, Any]:
    event: dict[str, Any] = {
        "name": task.label, "cat": "task", "ph": "X",
        "ts": _us(begin), "dur": _us(end - begin), "pid": PID, "tid": tid,
        "args": _args(task, status, critical=critical),
    }
    if status in _CNAME:
        event["cname"] = _CNAME[status]
    return event


def _flows(
    tasks: Sequence[_Task],
    spans: dict[Hashable, tuple[int, int]],
    tid: dict[Hashable, int],
    critical_edges: set[tuple[Hashable, Hashable]],
) -> tuple[list[dict[str, Any]], int]:
    """A flow per dependency whose two ends ran; and how many had an end that did not.

    A flow event binds to the slice enclosing its timestamp on its thread: the start
    goes 1 ns inside the upstream's end, the end ("bp": "e", bind to the enclosing
    slice) 1 ns inside the dependent's start.  Perfetto then draws the arrow from the
    upstream slice's end to the dependent slice's start.
    """
    events: list[dict[str, Any]] = []
    unflowed = 0
    flow_id = 0
    for task in tasks:
        for upstream, kind in task.deps:
            if task.id not in spans or upstream not in spans:
                unflowed += 1
                continue
            flow_id += 1
            up_begin, up_end = spans[upstream]
            begin, end = spans[task.id]
            cat = "critical_path" if (upstream, task.id) in critical_edges else "dependency"
            common = {"name": str(kind), "cat": cat, "id": flow_id, "pid": PID}
            events.append({**common, "ph": "s", "ts": _us(max(up_end - 1, up_begin)),
                           "tid": tid[upstream]})
            events.append({**common, "ph": "f", "bp": "e", "ts": _us(min(begin + 1, end)),
                           "tid": tid[task.id]})
    return events, unflowed


def write(run: _Run, path: str | os.PathLike[str]) -> Path:
    """Write ``run`` as a Perfetto / Chrome JSON trace to ``path``; return the path.

    Open the file in https://ui.perfetto.dev ("Open trace file") or chrome://tracing.
    The file is replaced atomically: a viewer never reads half of it.
    """
    path = Path(path)
    data = json.dumps(to_trace_json(run), separators=(",", ":"), ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
