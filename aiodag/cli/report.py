"""What the command prints about a run: the summary and the failure report.

A summary must stay readable for a run of 100,000 tasks: above :data:`FULL_TABLE_MAX`
tasks (unless ``full=True``, the command's ``--all-tasks``) it shows the tasks per
status, the longest tasks and those with the least slack, and the critical path with
its middle elided.
"""

from __future__ import annotations

import traceback
from collections.abc import Hashable, Iterable, Sequence

from ..analysis import attempt_count
from ..events import TaskStatus
from ..viz.model import (
    RunLike,
    TaskLike,
    compute_slack,
    error_info,
    exception_message,
)

__all__ = ["FULL_TABLE_MAX", "failure_report", "summary"]

FULL_TABLE_MAX = 50
"""Runs of up to this many tasks get one table row per task."""
TOP = 10
"""Rows in each of the summarised tables."""
PATH_ENDS = 4
"""Tasks shown at each end of a long critical path."""


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def summary(run: RunLike, *, full: bool = False) -> str:
    """Makespan, the critical path by label, and a table of the tasks.

    Above :data:`FULL_TABLE_MAX` tasks, unless ``full``: the counts per status, the
    :data:`TOP` longest tasks and the :data:`TOP` with the least slack off the critical
    path, and the path shortened to its ends.
    """
    tasks = list(run.tasks)
    makespan = run.makespan
    lines = [f"run {run.name!r}: {len(tasks):,} tasks, makespan {makespan:.3f} s"]
    path = run.critical_path()
    labels = [t.label for t in path]
    if not full and len(labels) > 2 * PATH_ENDS + 1:
        elided = len(labels) - 2 * PATH_ENDS
        labels = [*labels[:PATH_ENDS], f"… {elided:,} more …", *labels[-PATH_ENDS:]]
    lines.append(f"critical path ({len(path):,} tasks): " + (" → ".join(labels) or "-"))
    lines.extend(_where_the_time_went(run, tasks))
    slack = compute_slack(tasks, makespan)
    if full or len(tasks) <= FULL_TABLE_MAX:
        lines.extend(_table(tasks, slack))
        return "\n".join(lines)
    counts: dict[str, int] = {}
    for t in tasks:
        counts[str(t.status)] = counts.get(str(t.status), 0) + 1
    lines.append("tasks: " + ", ".join(f"{n:,} {status}" for status, n in counts.items()))
    ran = [t for t in tasks if t.duration is not None]
    longest = sorted(ran, key=lambda t: -(t.duration or 0.0))[:TOP]
    lines.append(f"the {len(longest)} longest tasks:")
    lines.extend(_table(longest, slack))
    on_path = {t.id for t in path}
    tight = sorted((t for t in ran if t.id in slack and t.id not in on_path),
                   key=lambda t: slack[t.id])[:TOP]
    if tight:
        lines.append(f"the {len(tight)} tasks off the critical path with the least slack:")
        lines.extend(_table(tight, slack))
    lines.append(f"({len(tasks):,} tasks in all: --all-tasks prints a row for each, "
                 "and the whole critical path)")
    return "\n".join(lines)


LOOP_WAIT_SHOWN = 0.01
"""Tasks that waited at least this many seconds for the loop are listed."""


def _where_the_time_went(run: RunLike, tasks: Sequence[TaskLike]) -> list[str]:
    """Who blocked the loop, and who waited longest for it (when the run knows)."""
    lines = []
    labels = {t.id: t.label for t in tasks}
    blocks: dict[Hashable, list[float]] = {}
    for block in getattr(run, "loop_blocks", ()):
        blocks.setdefault(block.task_id, []).append(block.duration_ns / 1e9)
    for task_id, durations in sorted(blocks.items(), key=lambda kv: -sum(kv[1]))[:TOP]:
        n = len(durations)
        lines.append(f"{labels.get(task_id, f'#{task_id}')} blocked the loop "
                     f"{n}× for {sum(durations):.3f} s in all"
                     if n > 1 else
                     f"{labels.get(task_id, f'#{task_id}')} blocked the loop for "
                     f"{durations[0]:.3f} s")
    waits = []
    for t in tasks:
        ready = getattr(t, "ready", None)
        if ready is None or t.started is None:
            continue
        # A wait for a slot of a concurrency limit is not the loop's (issue 13).
        loop_wait = t.started - ready - (getattr(t, "limit_wait", None) or 0.0)
        if loop_wait >= LOOP_WAIT_SHOWN:
            waits.append((loop_wait, t))
    if waits:
        waits.sort(key=lambda pair: -pair[0])
        shown = ", ".join(f"{t.label} {wait:.3f} s" for wait, t in waits[:5])
        more = f" (and {len(waits) - 5:,} more)" if len(waits) > 5 else ""
        lines.append(f"waited longest for the loop (ready, not yet running): {shown}{more}")
    return lines


def _table(tasks: Sequence[TaskLike], slack: dict[Hashable, float]) -> Iterable[str]:
    width = min(max((len(t.label) for t in tasks), default=4), 60)
    statuses = [_status(t) for t in tasks]
    status_width = max([16, *map(len, statuses)])
    yield (f"{'task':<{width}}  {'status':<{status_width}} {'start':>8} {'duration':>9} "
           f"{'slack':>8}")
    for t, status in zip(tasks, statuses, strict=True):
        label = t.label if len(t.label) <= width else t.label[: width - 1] + "…"
        yield (
            f"{label:<{width}}  {status:<{status_width}} {_seconds(t.started):>8} "
            f"{_seconds(t.duration):>9} {_seconds(slack.get(t.id)):>8}"
        )


def _status(task: TaskLike) -> str:
    """The status, and what explains it: a handled failure (a retry caught it: why a
    run with failed tasks succeeds), the attempts of a retried task, a timeout."""
    status = f"{task.status} (handled)" if getattr(task, "handled", False) else str(task.status)
    attempts = attempt_count(task)
    if attempts > 1:
        status += f", {attempts} attempts"
    if getattr(task, "timed_out", False):
        status += ", timed out"
    return status


def failure_report(run: RunLike, failures: Sequence[BaseException] = ()) -> str:
    """The failed tasks with their errors, and how many tasks they kept from running.

    A task whose body awaited a failed task and let its exception through ends failed
    with the very same exception: it is listed as passing that failure on, not counted
    as a second error.
    """
    tasks = list(run.tasks)
    failed = [t for t in tasks if t.status == TaskStatus.FAILED]
    # The task that raised an exception finished before any task that passed it on.
    failed.sort(key=lambda t: float("inf") if t.finished is None else t.finished)
    raised_by: dict[int, TaskLike] = {}  # id(exception) -> the task that raised it
    raisers: list[TaskLike] = []
    passed_on: list[tuple[TaskLike, TaskLike]] = []
    for t in failed:
        error = getattr(t, "error", None)
        origin = raised_by.get(id(error)) if error is not None else None
        if origin is not None:
            passed_on.append((t, origin))
            continue
        if error is not None:
            raised_by[id(error)] = t
        raisers.append(t)
    skipped = sum(1 for t in tasks if t.status == TaskStatus.UPSTREAM_FAILED)
    head = f"run {run.name!r} failed: "
    if raisers or not failures:
        head += f"{len(raisers)} task(s) raised"
        head += f", {skipped} did not run because of them" if skipped else ""
    else:
        head += "its pipeline function raised"
    lines = [head]
    for t in raisers:
        info = error_info(t)
        error = f"{info.type}: {_one_line(info.message)}" if info else "unknown error"
        lines.append(f"  {t.label}: {error}")
    for t, origin in passed_on:
        lines.append(f"  {t.label}: awaited {origin.label} and let its error through")
    for exc in failures:
        lines.append(f"  the pipeline function itself raised {type(exc).__name__}: "
                     f"{_one_line(exception_message(exc))}{_where(exc)}")
    return "\n".join(lines)


def _one_line(text: str) -> str:
    """A message's lines on one line, so that the report stays one line per error."""
    return " ⏎ ".join(text.splitlines()) if "\n" in text else text


def _where(exc: BaseException) -> str:
    """`` (at file:line in function)``: where the exception was raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" (at {last.filename}:{last.lineno} in {last.name})"
