"""The names aiodag writes into traces: span attributes and link attributes.

They are constants so that code reading stored traces back (``aiodag render``, a
notebook, a Jaeger query) uses the very strings the sink wrote.  Every name lives in
the ``aiodag.`` namespace, as OpenTelemetry's naming rules ask of non-standard
attributes.

A task span carries :data:`TASK_ID`, :data:`TASK_LABEL`, :data:`TASK_STATUS` (unless
it ended ok), :data:`TASK_WAIT_S` (when it ran), :data:`TASK_CALLER_ID` (when another
task called it), :data:`TASK_EXOGENOUS_UPSTREAM_IDS` (when it has exogenous
dependencies), and :data:`TASK_ATTEMPTS` / :data:`TASK_TIMED_OUT` (retried / timed-out
tasks, with an :data:`ATTEMPT_FAILED_EVENT` per retried attempt); each of its links to
an exogenous upstream carries :data:`DEPENDENCY_KIND` (a link without it is a data
dependency).  A task with more dependencies than the provider keeps links also carries
:data:`TASK_UPSTREAM_IDS`.  A run span carries :data:`RUN_NAME`, :data:`RUN_ID` and,
once the run ended, the timing analysis (:data:`RUN_MAKESPAN_S`,
:data:`RUN_CRITICAL_PATH`, :data:`RUN_CRITICAL_PATH_S`, :data:`RUN_TASKS` and
:data:`RUN_TASK_COUNTS`), and :data:`RUN_SPANS_DROPPED` if spans were lost meanwhile.
"""

from __future__ import annotations

from types import MappingProxyType

from ..events import TaskStatus

__all__ = [
    "ATTEMPT",
    "ATTEMPT_DURATION_S",
    "ATTEMPT_FAILED_EVENT",
    "ATTEMPT_TIMED_OUT",
    "BLOCKED_S",
    "DEPENDENCY_KIND",
    "LOOP_BLOCKED_EVENT",
    "MAX_ARGS",
    "MAX_ARG_LENGTH",
    "MAX_CRITICAL_PATH",
    "MAX_DESCRIPTION",
    "RETRY_DELAY_S",
    "RUN_CANCELLED",
    "RUN_CRITICAL_PATH",
    "RUN_CRITICAL_PATH_LENGTH",
    "RUN_CRITICAL_PATH_S",
    "RUN_FAILURES_HANDLED",
    "RUN_ID",
    "RUN_MAKESPAN_S",
    "RUN_NAME",
    "RUN_SPANS_DROPPED",
    "RUN_TASKS",
    "RUN_TASK_COUNTS",
    "TASK_ARGS",
    "TASK_ATTEMPTS",
    "TASK_CALLER_ID",
    "TASK_EXOGENOUS_UPSTREAM_IDS",
    "TASK_FAILED_UPSTREAM",
    "TASK_ID",
    "TASK_KWARGS",
    "TASK_LABEL",
    "TASK_LIMIT_WAIT_S",
    "TASK_LOOP_WAIT_S",
    "TASK_RELEASED_BY",
    "TASK_STATUS",
    "TASK_TIMED_OUT",
    "TASK_UPSTREAM_IDS",
    "TASK_WAIT_S",
    "TASK_WORKER",
    "TASK_WORKER_QUEUED_S",
    "TASK_WORKER_RUNNING_S",
]

# -- task spans ------------------------------------------------------------------------

TASK_ID = "aiodag.task.id"
"""The task's id (int), unique in the process that ran it."""
TASK_LABEL = "aiodag.task.label"
"""The call as a short readable label, such as ``fetch('a1')`` (str)."""
TASK_STATUS = "aiodag.task.status"
"""How the task ended, unless it ended ok: ``failed``, ``cancelled`` or
``upstream_failed`` (a :class:`~aiodag.TaskStatus` value, str).  A task span without it
is of a task that ended ok (its span status is then not ERROR; spans are written when
they end); traces written before it was left out write ``ok``, and read the same."""
TASK_WAIT_S = "aiodag.task.wait_s"
"""Seconds between the call and the start of the body (float); absent if it never ran."""
TASK_LOOP_WAIT_S = "aiodag.task.loop_wait_s"
"""Seconds the task was ready (its last upstream had finished) before its body began:
time the event loop spent on other steps.  Tasks of a run."""
TASK_LIMIT_WAIT_S = "aiodag.task.limit_wait_s"
"""Seconds the task was ready but waited for a slot of a concurrency ``limit`` (not
counted in :data:`TASK_LOOP_WAIT_S`); absent when no limit applied."""
TASK_RELEASED_BY = "aiodag.task.released_by"
"""The id of the upstream whose end made the task ready (its last arrival)."""
LOOP_BLOCKED_EVENT = "aiodag.loop_blocked"
"""The name of the span event of a step that held the event loop (see
:class:`aiodag.events.LoopBlocked`)."""
BLOCKED_S = "aiodag.blocked_s"
"""On a ``aiodag.loop_blocked`` event: how long the step held the loop."""
TASK_FAILED_UPSTREAM = "aiodag.task.failed_upstream"
"""On an ``upstream_failed`` span: the id of the dependency whose failure stopped it."""
TASK_CALLER_ID = "aiodag.task.caller_id"
"""The id of the task whose body called this one (int); absent for calls from plain code.

It tells a task *spawned* by another apart from one merely depending on it."""
TASK_EXOGENOUS_UPSTREAM_IDS = "aiodag.task.exogenous_upstream_ids"
"""The ids of the task's exogenous upstreams (int array), in the order given; absent when
it has none.  Jaeger's model keeps no link attributes, so this is what tells data from
exogenous edges in a trace read back from Jaeger."""
TASK_WORKER = "aiodag.task.worker.address"
"""Where a task's plain function ran when its executor sends calls to other processes
(a Dask worker's address such as ``tcp://10.0.0.5:40123``, else ``host:pid``) (str)."""
TASK_WORKER_QUEUED_S = "aiodag.task.worker.queued_s"
"""Seconds from sending the call until the worker began it: the cluster's queue and
the data's trip (float; the two machines' wall clocks)."""
TASK_WORKER_RUNNING_S = "aiodag.task.worker.running_s"
"""Seconds the function ran on the worker (float); the rest of the span is the trip."""
TASK_UPSTREAM_IDS = "aiodag.task.upstream_ids"
"""Every upstream id of the task, in order (int array): written only when the tracer
provider kept fewer links than the task has dependencies (an SDK provider's span
limits, 128 links by default), so the stored trace still holds every edge."""
TASK_ARGS = "aiodag.task.args"
"""With ``capture_args=True``: shortened ``repr``s of the positional arguments."""
TASK_KWARGS = "aiodag.task.kwargs"
"""With ``capture_args=True``: ``name=repr`` of the keyword arguments, shortened."""
TASK_EXOGENOUS_UPSTREAM_IDS = "aiodag.task.exogenous_upstream_ids"
"""The ids of the task's exogenous upstreams (int array): Jaeger drops link attributes."""
TASK_CALLER_ID = "aiodag.task.caller_id"
"""The id of the task whose body called this task (int); absent if plain code called it."""

TASK_ATTEMPTS = "aiodag.task.attempts"
"""How many times the body ran (int), on the span of a task with ``retries`` whose first
attempt failed; absent when it ran once."""
TASK_TIMED_OUT = "aiodag.task.timed_out"
"""True on the span of a task that failed because it ran over its ``timeout``; absent
otherwise."""
ATTEMPT_FAILED_EVENT = "aiodag.attempt_failed"
"""The name of the span event of an attempt that failed and was retried (see
:class:`aiodag.events.AttemptFailed`), at the attempt's end.  It carries
``exception.type`` and ``exception.message`` (OpenTelemetry's names), :data:`ATTEMPT`,
:data:`ATTEMPT_DURATION_S`, :data:`RETRY_DELAY_S` and, if it ran over its timeout,
:data:`ATTEMPT_TIMED_OUT`.  The last attempt's failure is the span's own exception
event and ERROR status, as for any failed task."""
ATTEMPT = "aiodag.attempt"
"""On an ``aiodag.attempt_failed`` event: the attempt's number (1 for the first)."""
ATTEMPT_DURATION_S = "aiodag.attempt.duration_s"
"""On an ``aiodag.attempt_failed`` event: seconds the attempt ran."""
ATTEMPT_TIMED_OUT = "aiodag.attempt.timed_out"
"""On an ``aiodag.attempt_failed`` event: True if the attempt ran over its timeout."""
RETRY_DELAY_S = "aiodag.retry.delay_s"
"""On an ``aiodag.attempt_failed`` event: seconds slept before the next attempt."""

# -- links -----------------------------------------------------------------------------

DEPENDENCY_KIND = "aiodag.dependency.kind"
"""On a link of a task span to an exogenous upstream: ``exogenous``.  Links to data
upstreams carry no attribute (one per link would cost every task): a link without
it is ``data``."""

# -- run spans -------------------------------------------------------------------------

RUN_NAME = "aiodag.run.name"
"""The run's name (str), on the run span (the parent of its task spans)."""
RUN_ID = "aiodag.run.id"
"""The run's id (int), unique in the process."""
RUN_MAKESPAN_S = "aiodag.run.makespan_s"
"""Seconds from the start of the run to the end of its last task (float)."""
RUN_CRITICAL_PATH = "aiodag.run.critical_path"
"""Labels of the tasks on the critical path, first to last (str array)."""
RUN_CRITICAL_PATH_LENGTH = "aiodag.run.critical_path.length"
"""How many tasks the critical path holds (the label array may be shortened)."""
RUN_CRITICAL_PATH_S = "aiodag.run.critical_path_s"
"""Seconds the critical path's task bodies ran, summed (float).

``makespan_s - critical_path_s`` is the time the path spent waiting: scheduling
overhead, or tasks held back by something else than their dependencies.
"""
RUN_CANCELLED = "aiodag.run.cancelled"
"""True on a run stopped by cancelling the code waiting in it (a timeout, a signal):
its unfinished tasks were cancelled."""
RUN_FAILURES_HANDLED = "aiodag.run.failures_handled"
"""Tasks that failed but whose failure was handled (a retry caught it): they do not fail
the run, whose span status is then not ERROR for them."""
RUN_SPANS_DROPPED = "aiodag.run.spans_dropped"
"""Spans the provider built by :func:`aiodag.trace.configure` dropped while the run went
on (a full export queue, a receiver that failed), as far as known when it ended; absent
when none was.  Spans dropped later are in the warning at shutdown."""
RUN_TASKS = "aiodag.run.tasks"
"""How many tasks the run had (int)."""
RUN_TASK_COUNTS: MappingProxyType[TaskStatus, str] = MappingProxyType({
    status: f"aiodag.run.tasks.{status.value}" for status in TaskStatus if status.is_terminal
})
"""Per terminal status, the attribute counting the run's tasks that ended so:
``aiodag.run.tasks.ok``, ``.failed``, ``.cancelled`` and ``.upstream_failed`` (ints).
"""

# -- bounds ----------------------------------------------------------------------------

MAX_ARGS = 16
"""At most this many arguments are captured per task (each of args and kwargs)."""
MAX_ARG_LENGTH = 100
"""A captured argument is cut to this many characters."""
MAX_CRITICAL_PATH = 100
"""At most this many labels are kept in :data:`RUN_CRITICAL_PATH` (first and last)."""
MAX_DESCRIPTION = 500
"""A span's error status description is cut to this many characters."""
