"""What the drawings need from a run: the :class:`RunLike` protocol, and a snapshot of it.

:class:`aiodag.Run` satisfies :class:`RunLike`, and so can any other object with the
same few read-only attributes — a run rebuilt from stored traces, say — which then
renders with the same look and options.  Everything derived (status counts, the
critical path's ids, slack) is computed once, from one list of tasks, into a
:class:`Snapshot`; so the title, the legend and the nodes of a run still in progress
always agree with each other.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

from ..errors import exception_message
from ..events import TaskStatus

if TYPE_CHECKING:
    from ..runs import Run

__all__ = [
    "ErrorInfo",
    "RunLike",
    "Snapshot",
    "TaskLike",
    "caller_of",
    "compute_slack",
    "error_info",
    "exception_message",
    "status_of",
]


class TaskLike(Protocol):
    """One task of a :class:`RunLike`, as :class:`aiodag.TaskRecord` provides it.

    Times are seconds since the run began, ``None`` where the task has not got there.
    ``status`` is a :class:`~aiodag.TaskStatus` or its string value.  ``deps`` are
    ``(upstream_id, kind)`` pairs, ``kind`` being ``"data"`` or ``"exogenous"``.

    A task called from inside another task's body may have the optional attribute
    ``caller_id``: the id of that task (``None``, or missing: called from plain code).

    ``error`` is the exception of a failed task.  A record that has no exception object
    (one rebuilt from a trace) leaves it ``None`` and may instead have the optional
    attributes ``error_type: str | None`` (the exception's type name, e.g.
    ``"ValueError"``) and ``error_message: str | None``; when present they win.
    """

    @property
    def id(self) -> Hashable:
        """Unique within the run; ``str(id)`` is the node's name in the DOT source."""

    @property
    def name(self) -> str:
        """The task's name (the function's), shared by all its calls."""

    @property
    def label(self) -> str:
        """The call, such as ``fetch('a1')``."""

    @property
    def deps(self) -> Sequence[tuple[Hashable, str]]:
        """``(upstream_id, kind)`` pairs."""

    @property
    def status(self) -> str:
        """One of the :class:`~aiodag.TaskStatus` values."""

    @property
    def error(self) -> BaseException | None:
        """The exception of a failed (or upstream-failed) task."""

    @property
    def started(self) -> float | None:
        """When the body began."""

    @property
    def finished(self) -> float | None:
        """When the task ended."""

    @property
    def duration(self) -> float | None:
        """Seconds the body ran."""


class RunLike(Protocol):
    """What :func:`~aiodag.viz.to_graphviz` reads of a run; :class:`aiodag.Run` is one.

    ``makespan`` is the seconds from the run's start to its last task's end (so far,
    while ``running``).  ``critical_path()`` lists the tasks, first to last, that
    decided when the run ended.  Status counts and slack are computed from ``tasks``.
    """

    @property
    def name(self) -> str:
        """The run's name, shown in the title."""

    @property
    def tasks(self) -> Sequence[TaskLike]:
        """Every task of the run, in the order they were called."""

    @property
    def makespan(self) -> float:
        """Seconds from the start to the end of the last task (so far, if running)."""

    @property
    def running(self) -> bool:
        """True until every task has finished."""

    def critical_path(self) -> Sequence[TaskLike]:
        """The chain of tasks, first to last, that decided when the run ended."""


if TYPE_CHECKING:

    def _run_is_run_like(run: Run) -> RunLike:
        return run  # mypy checks here that the engine's Run keeps satisfying RunLike


class ErrorInfo(NamedTuple):
    """The type name and message of a task's error."""

    type: str
    message: str


def error_info(task: TaskLike) -> ErrorInfo | None:
    """The error of ``task`` as names, from ``error_type``/``error_message`` or ``error``."""
    type_name = getattr(task, "error_type", None)
    message = getattr(task, "error_message", None)
    error = task.error
    if not isinstance(type_name, str) or not type_name:
        if error is None:
            return None
        type_name = type(error).__name__
    if not isinstance(message, str):
        message = exception_message(error) if error is not None else ""
    return ErrorInfo(type_name, message)


def caller_of(task: TaskLike) -> Hashable | None:
    """The id of the task whose body called ``task``, if the record says so."""
    caller: Hashable | None = getattr(task, "caller_id", None)
    return caller


def blocked_seconds(run: object) -> dict[Hashable, float]:
    """Seconds each task held the event loop, from a run's ``loop_blocks`` (if it has
    them: a live :class:`~aiodag.Run`)."""
    blocked: dict[Hashable, float] = {}
    for block in getattr(run, "loop_blocks", ()):
        blocked[block.task_id] = blocked.get(block.task_id, 0.0) + block.duration_ns / 1e9
    return blocked


def block_intervals(run: object) -> tuple[tuple[Hashable, float, float], ...]:
    """Each of a run's loop blocks as ``(task id, start, end)`` in run seconds (a live
    run's, or one read back from a trace)."""
    blocks = getattr(run, "loop_blocks", ())
    if blocks and hasattr(blocks[0], "start"):  # a run read back from a trace
        return tuple((block.task_id, block.start, block.end) for block in blocks)
    anchor = getattr(getattr(run, "anchor", None), "mono_ns", None)
    if anchor is None:
        return ()
    return tuple(
        (block.task_id, (block.ts - block.duration_ns - anchor) / 1e9, (block.ts - anchor) / 1e9)
        for block in blocks
    )


def status_of(task: TaskLike) -> TaskStatus:
    """``task.status`` as a :class:`~aiodag.TaskStatus`."""
    status = task.status
    if isinstance(status, TaskStatus):
        return status
    try:
        return TaskStatus(status)
    except ValueError:
        raise ValueError(
            f"task {task.id!r} has unknown status {status!r} "
            f"(must be one of {[str(s) for s in TaskStatus]})"
        ) from None


def _topological(tasks: Sequence[TaskLike]) -> Sequence[TaskLike]:
    """``tasks`` with every upstream before its dependents.

    A run lists its tasks in call order, and a task can only depend on tasks called
    before it, so that order usually is one already: checked in one pass, else sorted
    (Kahn's algorithm), for runs rebuilt from elsewhere.
    """
    known = {task.id for task in tasks}
    seen: set[Hashable] = set()
    for task in tasks:
        for up, _kind in task.deps:
            if up not in seen and up in known:
                return _kahn(tasks, known)
        seen.add(task.id)
    return tasks


def _kahn(tasks: Sequence[TaskLike], known: set[Hashable]) -> list[TaskLike]:
    indegree: dict[Hashable, int] = {}
    dependents: dict[Hashable, list[TaskLike]] = {}
    for task in tasks:
        ups = {up for up, _kind in task.deps if up in known}
        indegree[task.id] = len(ups)
        for up in ups:
            dependents.setdefault(up, []).append(task)
    ready = deque(task for task in tasks if not indegree[task.id])
    order: list[TaskLike] = []
    while ready:
        task = ready.popleft()
        order.append(task)
        for dependent in dependents.get(task.id, ()):
            indegree[dependent.id] -= 1
            if not indegree[dependent.id]:
                ready.append(dependent)
    if len(order) < len(tasks):  # a cycle: impossible for aiodag, keep the rest as given
        placed = {task.id for task in order}
        order.extend(task for task in tasks if task.id not in placed)
    return order


def compute_slack(tasks: Sequence[TaskLike], makespan: float) -> dict[Hashable, float]:
    """How much later each task that ran could have finished without delaying the run.

    This is the total slack (float) of the critical path method, from the recorded
    times: a task's latest finish is the makespan if no dependent started, else the
    earliest of its dependents' latest starts (a dependent's latest finish minus its
    duration; a dependent still running counts with its actual start).  Tasks on the
    critical path get (about) zero.  Tasks that have not finished, or never ran (an
    upstream failed), are left out.  One pass over the tasks and their dependencies.
    """
    latest_finish: dict[Hashable, float] = {}
    slack: dict[Hashable, float] = {}
    # Dependents before upstreams: each task, once its latest finish is known, pushes
    # its latest start down to its upstreams.
    for task in reversed(_topological(tasks)):
        started = task.started
        if started is None:
            continue  # pending, or never ran: it constrains nothing and has no slack
        finished = task.finished
        latest = latest_finish.get(task.id, makespan)
        if finished is None:
            latest_start = started  # still running
        else:
            slack[task.id] = max(latest - finished, 0.0)
            latest_start = latest - (finished - started)
        for up, _kind in task.deps:
            if latest_start < latest_finish.get(up, makespan):
                latest_finish[up] = latest_start
    return slack


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One consistent reading of a run: its tasks and everything derived from them."""

    name: str
    tasks: Sequence[TaskLike]
    statuses: dict[Hashable, TaskStatus]
    counts: dict[TaskStatus, int]
    makespan: float
    running: bool
    critical: tuple[Hashable, ...]
    """Ids on the critical path, first to last (empty while the run is running)."""
    slack: dict[Hashable, float] | None
    blocked: dict[Hashable, float]
    """Seconds each task's steps held the event loop (tasks that blocked it only)."""
    blocks: tuple[tuple[Hashable, float, float], ...]
    """Each block as ``(task id, start, end)``, seconds since the run began."""

    @classmethod
    def of(cls, run: RunLike, *, critical_path: bool, slack: bool) -> Snapshot:
        """Read ``run`` once; ``critical_path``/``slack``: whether to compute them."""
        tasks = list(run.tasks)
        statuses = {task.id: status_of(task) for task in tasks}
        counts = dict.fromkeys(TaskStatus, 0)
        counts.update(Counter(statuses.values()))
        makespan = float(run.makespan)
        running = bool(run.running)
        # While running, the "critical path" would only lead to the latest task to
        # finish so far, and would jump around in a live view: drawn once finished.
        path = (
            tuple(task.id for task in run.critical_path())
            if (critical_path or slack) and not running
            else ()
        )
        critical = path if critical_path else ()
        slacks = compute_slack(tasks, makespan) if slack else None
        if slacks is not None:
            # On the critical path slack is zero by definition; the computed value is
            # the engine's few microseconds between one task's end and the next start.
            for task_id in path:
                if task_id in slacks:
                    slacks[task_id] = 0.0
        return cls(
            name=run.name,
            tasks=tasks,
            statuses=statuses,
            counts=counts,
            makespan=makespan,
            running=running,
            critical=critical,
            slack=slacks,
            blocked=blocked_seconds(run),
            blocks=block_intervals(run),
        )

    def critical_edges(self) -> set[tuple[Hashable, Hashable]]:
        """``(upstream_id, dependent_id)`` pairs along the critical path."""
        return set(zip(self.critical, self.critical[1:], strict=False))
