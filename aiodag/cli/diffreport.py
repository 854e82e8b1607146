"""What ``aiodag diff`` prints: makespans, the critical path, and the tasks that changed."""

from __future__ import annotations

import math

from ..viz.model import status_of
from ..viz.rundiff import RunDiff, TaskChange
from ..viz.text import format_seconds

__all__ = ["diff_report"]

MAX_ROWS = 25


def _seconds(value: float | None) -> str:
    return "-" if value is None else format_seconds(value)


def _weight(item: TaskChange) -> float:
    """Biggest changes first: status changes, new tasks, then by how far the ratio is from 1."""
    if item.status_changed:
        return math.inf
    if item.change == "added":
        return 1e9
    return abs(math.log(item.ratio)) if item.ratio else 0.0


def diff_report(d: RunDiff, *, max_rows: int = MAX_ROWS) -> str:
    """The summary table of a :class:`~aiodag.viz.RunDiff`, for the terminal."""
    a, b = d.before, d.after
    change = (b.makespan - a.makespan) / a.makespan * 100 if a.makespan > 0 else 0.0
    lines = [
        f"run {a.name!r} → {b.name!r}: {len(a.tasks)} → {len(b.tasks)} tasks, makespan "
        f"{format_seconds(a.makespan)} → {format_seconds(b.makespan)} ({change:+.0f} %)"
    ]
    if d.path_moved:
        lines.append("critical path moved:")
        lines.append("  before: " + (" → ".join(d.critical_before) or "-"))
        lines.append("  now:    " + (" → ".join(d.critical_after) or "-"))
    else:
        lines.append("critical path unchanged: " + (" → ".join(d.critical_after) or "-"))
    counts = d.counts()
    lines.append(
        f"tasks: {counts['slower']} slower, {counts['faster']} faster, {counts['same']} about "
        f"the same (threshold {d.threshold:.0%}), {counts['not_run']} did not run, "
        f"{counts['added']} new, {counts['removed']} removed, {counts['status']} changed status"
    )
    changed = [item for item in d.tasks
               if item.change in ("slower", "faster", "added") or item.status_changed]
    changed.sort(key=_weight, reverse=True)
    rows = [(item.task.label, _seconds(item.before.duration if item.before else None),
             _seconds(item.task.duration),
             f"×{item.ratio:.2f}" if item.ratio is not None else "-",
             _what(item)) for item in changed[:max_rows]]
    rows += [(t.label, _seconds(t.duration), "-", "-", "removed") for t in d.removed]
    if not rows:
        return "\n".join(lines)
    width = min(max(len(r[0]) for r in rows), 60)
    lines.append(f"{'task':<{width}}  {'before':>8} {'after':>8} {'ratio':>7}  change")
    for label, before, after, ratio, what in rows[: max_rows]:
        label = label if len(label) <= width else label[: width - 1] + "…"
        lines.append(f"{label:<{width}}  {before:>8} {after:>8} {ratio:>7}  {what}")
    hidden = len(rows) - max_rows
    if hidden > 0:
        lines.append(f"(and {hidden} more changed tasks; -o diff.svg draws them all)")
    return "\n".join(lines)


def _what(item: TaskChange) -> str:
    if item.status_changed and item.before is not None:
        return f"{status_of(item.before)} → {status_of(item.task)}"
    return "new" if item.change == "added" else item.change
