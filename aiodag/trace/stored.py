"""Runs rebuilt from stored traces: the DAG is in the spans and their links.

:class:`OpenTelemetrySink` writes one span per task — status, label and id as
attributes, one link per dependency — so a trace stored as OTLP JSON (the file
:func:`~aiodag.trace.configure` writes, or OTLP JSON exported from Jaeger) holds the
whole DAG.  :func:`read_runs` reads every run in such a file; each :class:`StoredRun`
has the shape :func:`aiodag.viz.to_graphviz` draws, so a stored run renders exactly as
a live one::

    run = load_run("trace.jsonl")          # the last run in the file
    aiodag.viz.render(run, "pipeline.svg")

The file is decoded with the official OTLP JSON codec (``opentelemetry-proto-json``);
only the mapping from spans to tasks is ours.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.proto_json.common.v1.common import AnyValue, KeyValue
from opentelemetry.proto_json.trace.v1.trace import Span, TracesData

from ..analysis import critical_path, status_counts
from ..events import TaskStatus
from . import attributes as attr

__all__ = ["StoredRun", "StoredTask", "TraceFileError", "load_run", "read_runs"]

_RAN = attr.TASK_WAIT_S  # present exactly on the spans of tasks whose body ran


class TraceFileError(ValueError):
    """A file that cannot be read as a trace of aiodag runs."""


@dataclass(frozen=True, slots=True)
class StoredTask:
    """One task as recorded in a trace (the fields of :class:`aiodag.TaskRecord`).

    Times are seconds since the run began.  There is no exception object, only its
    type name and message (``error_type``, ``error_message``).
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

    @property
    def duration(self) -> float | None:
        """Seconds the body ran (``None`` if it never ran)."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


@dataclass(slots=True)
class StoredRun:
    """A run rebuilt from a trace; drawable with :mod:`aiodag.viz`."""

    name: str
    trace_id: str
    tasks: list[StoredTask]
    makespan: float
    running: bool = False
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


def _value(value: AnyValue | None) -> Any:
    if value is None:
        return None
    for kind in ("string_value", "int_value", "double_value", "bool_value"):
        item = getattr(value, kind)
        if item is not None:
            return item
    if value.array_value is not None:
        return [_value(v) for v in value.array_value.values]
    return None


def _attributes(pairs: list[KeyValue]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs if kv.key}


def _documents(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON documents of an OTLP JSON file: one per line, or the whole file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TraceFileError(f"no such file: {str(path)!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceFileError(f"cannot read {str(path)!r}: {exc}") from None
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        documents = [json.loads(line) for line in lines]
    except json.JSONDecodeError:
        try:  # not JSON lines: perhaps one (pretty-printed) JSON document
            documents = [json.loads(text)]
        except json.JSONDecodeError as exc:
            raise TraceFileError(
                f"{str(path)!r} is not an OTLP JSON trace file: line {exc.lineno} is not "
                "JSON (write traces with aiodag.trace.configure(file=...))"
            ) from None
    for number, document in enumerate(documents, 1):
        if isinstance(document, dict) and isinstance(document.get("result"), dict):
            document = document["result"]  # Jaeger's /api/v3 answers wrap the data
        if not isinstance(document, dict) or "resourceSpans" not in document:
            raise TraceFileError(
                f"{str(path)!r} is not an OTLP JSON trace file: document {number} has no "
                "'resourceSpans' (write traces with aiodag.trace.configure(file=...))"
            )
        yield document


def _spans(path: Path) -> list[Span]:
    spans: list[Span] = []
    for document in _documents(path):
        try:
            data = TracesData.from_dict(document)
        except (TypeError, ValueError) as exc:
            raise TraceFileError(f"{str(path)!r} holds malformed OTLP JSON: {exc}") from None
        for resource_spans in data.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    return spans


def _sid(span: Span) -> bytes:
    return span.span_id or b""


def _error(span: Span) -> tuple[str | None, str | None]:
    for event in span.events:
        if event.name == "exception":
            found = _attributes(event.attributes)
            return found.get("exception.type"), found.get("exception.message")
    message = span.status.message if span.status is not None else None
    return None, message or None


def read_runs(path: str | os.PathLike[str]) -> list[StoredRun]:
    """Every aiodag run in an OTLP JSON trace file, in the order the runs began."""
    path = Path(path)
    spans = _spans(path)
    attrs = {_sid(span): _attributes(span.attributes) for span in spans}
    task_ids: dict[bytes, int] = {
        sid: int(a[attr.TASK_ID]) for sid, a in attrs.items() if sid and attr.TASK_ID in a
    }
    if not task_ids:
        raise TraceFileError(
            f"{str(path)!r} holds {len(spans)} span(s) but none of an aiodag task "
            f"(no {attr.TASK_ID!r} attribute): was it written by aiodag.trace?"
        )
    runs_by_span = {
        _sid(span): span for span in spans
        if attr.RUN_ID in attrs[_sid(span)] and _sid(span) not in task_ids
    }
    # Task spans, grouped by their run's span (or, outside runs, by trace).
    groups: dict[bytes, list[Span]] = {}
    for span in spans:
        if _sid(span) in task_ids:
            parent = span.parent_span_id or b""
            key = parent if parent in runs_by_span else span.trace_id or b""
            groups.setdefault(key, []).append(span)

    runs: list[tuple[int, StoredRun]] = []
    for key, members in groups.items():
        run_span = runs_by_span.get(key)
        if run_span is not None:
            start = run_span.start_time_unix_nano or 0
            name = str(attrs[_sid(run_span)].get(attr.RUN_NAME, run_span.name))
        else:
            # A run still going (its span not yet written), or tasks outside any run.
            start = min(s.start_time_unix_nano or 0 for s in members)
            first = attrs[_sid(members[0])]
            name = str(first.get(attr.RUN_NAME) or f"tasks of trace {(key or b'').hex()[:8]}")
        tasks = [_task(span, attrs[_sid(span)], task_ids, start) for span in members]
        tasks.sort(key=lambda t: t.id)
        if run_span is not None and attr.RUN_MAKESPAN_S in attrs[_sid(run_span)]:
            makespan = float(attrs[_sid(run_span)][attr.RUN_MAKESPAN_S])
        else:
            makespan = max((t.finished or 0.0 for t in tasks), default=0.0)
        trace_id = (members[0].trace_id or b"").hex()
        runs.append((start, StoredRun(name, trace_id, tasks, makespan)))
    runs.sort(key=lambda pair: pair[0])
    return [run for _start, run in runs]


def _task(span: Span, found: dict[str, Any], task_ids: dict[bytes, int],
          run_start: int) -> StoredTask:
    status_text = found.get(attr.TASK_STATUS, "")
    try:
        status = TaskStatus(status_text)
    except ValueError:
        status = TaskStatus.RUNNING if not status_text else TaskStatus.FAILED
    begin = ((span.start_time_unix_nano or 0) - run_start) / 1e9
    end = ((span.end_time_unix_nano or 0) - run_start) / 1e9
    deps = tuple(
        (
            task_ids[link.span_id or b""],
            str(_attributes(link.attributes).get(attr.DEPENDENCY_KIND, "data")),
        )
        for link in span.links
        if link.span_id and link.span_id in task_ids
    )
    error_type, error_message = (None, None)
    if status in (TaskStatus.FAILED, TaskStatus.UPSTREAM_FAILED):
        error_type, error_message = _error(span)
    return StoredTask(
        id=int(found[attr.TASK_ID]),
        name=span.name or "",
        label=str(found.get(attr.TASK_LABEL, span.name)),
        status=status,
        deps=deps,
        started=begin if _RAN in found else None,
        finished=end,
        error_type=error_type,
        error_message=error_message,
    )


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
