"""What the command prints about a run: the summary table and the failure report."""

from __future__ import annotations

from collections.abc import Sequence

from ..events import TaskStatus
from ..viz.model import RunLike, compute_slack, error_info, exception_message

__all__ = ["failure_report", "summary"]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def summary(run: RunLike) -> str:
    """Makespan, the critical path by label, and a table of the tasks."""
    tasks = list(run.tasks)
    lines = [f"run {run.name!r}: {len(tasks)} tasks, makespan {run.makespan:.3f} s"]
    path = run.critical_path()
    lines.append("critical path: " + (" → ".join(t.label for t in path) or "-"))
    slack = compute_slack(tasks, run.makespan)
    width = min(max((len(t.label) for t in tasks), default=4), 60)
    lines.append(f"{'task':<{width}}  {'status':<15} {'start':>8} {'duration':>9} {'slack':>8}")
    for t in tasks:
        label = t.label if len(t.label) <= width else t.label[: width - 1] + "…"
        lines.append(
            f"{label:<{width}}  {t.status!s:<15} {_seconds(t.started):>8} "
            f"{_seconds(t.duration):>9} {_seconds(slack.get(t.id)):>8}"
        )
    return "\n".join(lines)


def failure_report(run: RunLike, failures: Sequence[BaseException] = ()) -> str:
    """The failed tasks with their errors, and how many tasks they kept from running."""
    tasks = list(run.tasks)
    failed = [t for t in tasks if t.status == TaskStatus.FAILED]
    skipped = sum(1 for t in tasks if t.status == TaskStatus.UPSTREAM_FAILED)
    lines = [f"run {run.name!r} failed: {len(failed)} task(s) raised"
             + (f", {skipped} did not run because of them" if skipped else "")]
    for t in failed:
        info = error_info(t)
        error = f"{info.type}: {info.message}" if info else "unknown error"
        lines.append(f"  {t.label}: {error}")
    for exc in failures:
        lines.append(f"  the pipeline function itself raised {type(exc).__name__}: "
                     f"{exception_message(exc)}")
    return "\n".join(lines)
