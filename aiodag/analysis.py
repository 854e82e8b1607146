"""Analysis of a recorded DAG: its critical path, status counts and wait breakdown.

Works on any records with ``id``, ``deps`` (``(upstream_id, kind)`` pairs), ``started``
and ``finished`` (seconds, ``None`` where not reached): a live :class:`~aiodag.Run`'s
and a run rebuilt from a stored trace alike.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar

from .events import TaskStatus

__all__ = [
    "TimedRecord", "WaitBreakdown", "attempt_count", "critical_path", "status_counts",
    "wait_breakdown",
]


class TimedRecord(Protocol):
    """What the analysis reads of a task record (live or read back from a trace)."""

    @property
    def id(self) -> Hashable: ...
    @property
    def deps(self) -> Sequence[tuple[Hashable, str]]: ...
    @property
    def started(self) -> float | None: ...
    @property
    def finished(self) -> float | None: ...


class _HasStatus(Protocol):
    @property
    def status(self) -> TaskStatus: ...


R = TypeVar("R", bound=TimedRecord)


def critical_path(records: Mapping[Any, R]) -> list[R]:
    """The chain of records, first to last, that decided when the run ended.

    Start from the record that finished last; repeatedly step to the dependency that
    finished last before it started (before it finished, for a task that never
    started).  Any delay on this chain delays the end of the run.
    """
    done = [r for r in records.values() if r.finished is not None]
    if not done:
        return []
    current = max(done, key=_finish_time)
    path = [current]
    on_path = {id(current)}  # records from elsewhere (a stored trace) may have cycles
    while True:
        limit = current.started if current.started is not None else current.finished
        assert limit is not None
        upstreams = [
            up
            for upstream_id, _kind in current.deps
            if (up := records.get(upstream_id)) is not None
            and up.finished is not None
            and up.finished <= limit
        ]
        if not upstreams:
            break
        current = max(upstreams, key=_finish_time)
        if id(current) in on_path:
            break  # a dependency cycle: the path ends where it would repeat
        on_path.add(id(current))
        path.append(current)
    path.reverse()
    return path


def _finish_time(record: TimedRecord) -> float:
    assert record.finished is not None
    return record.finished


def status_counts(records: Iterable[_HasStatus]) -> dict[TaskStatus, int]:
    """How many records have each status (every status is a key, zeros included)."""
    counts = dict.fromkeys(TaskStatus, 0)
    for record in records:
        counts[record.status] += 1
    return counts


class _Waiting(TimedRecord, Protocol):
    @property
    def created(self) -> float | None: ...


class WaitBreakdown(NamedTuple):
    """Where one task's time went, from its call to its end (seconds).

    ``dependency_wait`` ran from the call until its last upstream finished (its *last
    arrival*, ``released_by``); then ``limit_wait``, if a concurrency limit held it back,
    and ``loop_wait``, time the loop spent on other steps (or blocked), until the body
    began; ``running`` is the body's time.  Fields
    not reached are ``None``.
    """

    dependency_wait: float | None
    loop_wait: float | None
    running: float | None
    released_by: Hashable | None
    limit_wait: float | None = None
    """Seconds it was ready but waited for a slot of a ``limit`` (``None``: no limit
    applied); not counted in ``loop_wait``."""


def wait_breakdown(records: Mapping[Any, _Waiting]) -> dict[Hashable, WaitBreakdown]:
    """The :class:`WaitBreakdown` of every record, from the records alone.

    Records that carry ``ready`` / ``released_by`` (a live run's, taken by the engine as
    it ran, and a trace's that recorded them) are used as they are; otherwise they are
    rebuilt from the upstreams' finish times (upstreams not among ``records``, such as
    plain futures, are not known then, so not counted).  This is also what
    :meth:`aiodag.Run.wait_breakdown` returns for a live run.
    """
    result: dict[Hashable, WaitBreakdown] = {}
    for record in records.values():
        if record.created is None:  # not known (a task read back that never ran)
            result[record.id] = WaitBreakdown(None, None, None, None)
            continue
        recorded = getattr(record, "ready", None)
        started, finished = record.started, record.finished
        if started is None:
            # Never began: it waited for its upstreams until it became ready, if it did
            # (then it was cancelled), or until it ended (an upstream failed or was
            # cancelled, or it was cancelled first); nothing released it in the latter.
            if recorded is not None:
                waited: float | None = recorded - record.created
                released_by = getattr(record, "released_by", None)
            else:
                waited = None if finished is None else max(0.0, finished - record.created)
                released_by = None
            result[record.id] = WaitBreakdown(waited, None, None, released_by)
            continue
        if recorded is not None:  # taken by the engine as it ran (or read from a trace)
            ready, released_by = recorded, getattr(record, "released_by", None)
        else:
            ready, released_by = record.created, None
            for upstream_id, _kind in record.deps:
                upstream = records.get(upstream_id)
                if upstream is not None and upstream.finished is not None \
                        and upstream.finished > ready:
                    ready, released_by = upstream.finished, upstream_id
        ready = min(ready, started)
        limit_wait = getattr(record, "limit_wait", None)
        result[record.id] = WaitBreakdown(
            ready - record.created,
            started - ready if limit_wait is None else max(0.0, started - ready - limit_wait),
            None if finished is None else finished - started,
            released_by,
            limit_wait,
        )
    return result


def attempt_count(task: object) -> int:
    """How many times ``task``'s body ran, if the record says (a task with retries or a
    timeout): its ``attempts``, a live record's tuple or a stored task's count; else 0."""
    attempts = getattr(task, "attempts", ())
    if isinstance(attempts, int):
        return attempts
    try:
        return len(attempts)
    except TypeError:
        return 0
