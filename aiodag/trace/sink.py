"""``OpenTelemetrySink``: every run and every task as an OpenTelemetry span.

::

    sink = OpenTelemetrySink()                  # the global tracer provider
    async with aiodag.Run("etl", sinks=[sink]):
        upload(merge(fetch("a"), fetch("b")))

The sink turns the engine's events into spans through the OpenTelemetry *API* only; the
SDK and the exporters are the application's choice (:func:`aiodag.trace.configure` is
one).  What it writes (names in :mod:`aiodag.trace.attributes`):

* one span per run, named by the run, child of the span current when the run began;
* one span per task, named by the task, child of its run's span or, outside a run, of
  the span current *where the task was called*;
* one link per dependency, from the task's span to its upstream's, so that the DAG
  can be rebuilt from a stored trace;
* a zero-length span, carrying its status, for a task that never ran.

Where the work is done, and why (see also the engine's event order in
:mod:`aiodag.events`):

* ``TaskCreated`` (in the caller's context): for a task of a run the sink follows,
  nothing, unless an upstream is outside the run (its record in the run holds what the
  span needs); for others, the parent and the upstreams' entries, taken while their
  handles are certainly alive.
* ``TaskStarted`` (inside the task) starts the span and makes it current, so spans of
  instrumented libraries called by the body nest under it; ``TaskFinished`` ends it and
  restores the context.  A task span starts when the body starts, not at the call.  An
  ok task's span gets no status attribute: a span without one is of a task that ended ok.
* An upstream's span (its link) is kept while its handle is alive, because a task can
  be called with an upstream that finished long ago; a weak reference to the handle
  drops it when the handle goes (for a task of a run, once the run has ended), so a
  long-lived process keeps nothing for finished work.  What is kept, and why it is kept
  small, is in :mod:`aiodag.trace.kept`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.util.types import AttributeValue

from .. import __version__
from ..ending import settling
from ..events import (
    AttemptFailed,
    Dependency,
    DependencyKind,
    Event,
    LoopBlocked,
    RunFinished,
    RunStarted,
    TaskCreated,
    TaskFinished,
    TaskStarted,
    TaskStatus,
)
from ..runs import Run
from . import attributes as attr
from . import propagation
from .kept import (
    CLOCK_OFFSET,
    NO_HANDLE,
    Entry,
    HandleRef,
    Parked,
    RunState,
    Started,
    TaskState,
)
from .stats import export_stats

__all__ = ["OpenTelemetrySink"]

logger = logging.getLogger("aiodag.trace")

_OK = TaskStatus.OK
_FAILED = TaskStatus.FAILED
_UPSTREAM_FAILED = TaskStatus.UPSTREAM_FAILED

_EXOGENOUS = DependencyKind.EXOGENOUS
# Only exogenous links carry their kind (a link without one is a data dependency): an
# attribute on every link costs every task, and most dependencies are data.  One
# mapping, shared by every exogenous link: the SDK copies link attributes.
_EXOGENOUS_LINK = {attr.DEPENDENCY_KIND: _EXOGENOUS.value}

_TASK_ID, _TASK_LABEL, _TASK_WAIT_S = attr.TASK_ID, attr.TASK_LABEL, attr.TASK_WAIT_S
_TASK_LOOP_WAIT_S, _TASK_RELEASED_BY = attr.TASK_LOOP_WAIT_S, attr.TASK_RELEASED_BY

class OpenTelemetrySink:
    """A sink that records runs and tasks as OpenTelemetry spans.

    ``tracer_provider`` defaults to the global provider, so the sink composes with an
    application that already set OpenTelemetry up (or calls
    :func:`aiodag.trace.configure` later).  ``capture_args=True`` records shortened
    argument ``repr``s as attributes; it is off by default because arguments can hold
    secrets.

    >>> sink = OpenTelemetrySink()
    >>> async with aiodag.Run("etl", sinks=[sink]):
    ...     upload(merge(fetch("a"), fetch("b")))

    Use it as a run's sink, or for every task with ``aiodag.add_sink(sink)``.  Like
    every sink it is called on the event loop's thread and never blocks: spans go to the
    provider's span processors, which export them in the background.
    """

    def __init__(
        self, tracer_provider: TracerProvider | None = None, *, capture_args: bool = False
    ) -> None:
        if tracer_provider is not None and not isinstance(tracer_provider, TracerProvider):
            raise TypeError(
                f"tracer_provider must be an OpenTelemetry TracerProvider, got "
                f"{tracer_provider!r}; pass e.g. aiodag.trace.configure(install=False), "
                "or None for the global provider"
            )
        # The tracer is looked up once.  From the global provider it is a proxy that
        # follows a provider installed later, so creating the sink early is fine.
        self._tracer: Tracer = (
            trace.get_tracer("aiodag", __version__)
            if tracer_provider is None
            else tracer_provider.get_tracer("aiodag", __version__)
        )
        self._provider = tracer_provider  # None: the global one, whenever asked
        # Tasks on other processes (a process pool, Dask) carry the trace context.
        propagation.install()
        self._capture_args = capture_args
        self._runs: dict[int, RunState] = {}
        self._tasks: dict[int, Entry] = {}
        self._retrying: dict[int, int] = {}
        """Tasks waiting to retry: the number of the attempt that runs next (if not
        cancelled first)."""
        # Never-ran tasks whose span waits for an upstream's span to exist (rare).
        self._parked: dict[int, TaskState] = {}
        self._forget_cb = self._forget
        self._warned_links = False
        self._links_kept = 0  # spans with up to this many links kept them all
        self._handlers: dict[type, Callable[[Any], None]] = {
            TaskCreated: self._task_created,
            TaskStarted: self._task_started,
            LoopBlocked: self._loop_blocked,
            AttemptFailed: self._attempt_failed,
            TaskFinished: self._task_finished,
            RunStarted: self._run_started,
            RunFinished: self._run_finished,
        }

    def __call__(self, event: Event) -> None:
        """Record one engine event."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def __repr__(self) -> str:
        return (
            f"<OpenTelemetrySink runs={len(self._runs)} tasks={len(self._tasks)}"
            f"{' capture_args' if self._capture_args else ''}>"
        )

    # -- runs ------------------------------------------------------------------------

    def _run_started(self, event: RunStarted) -> None:
        run = event.run
        if run.id in self._runs:
            return  # the same sink given twice (global and the run's own)
        # No explicit context: the span current where the run begins is the parent.
        span = self._tracer.start_span(
            run.name,
            attributes={attr.RUN_NAME: run.name, attr.RUN_ID: run.id},
            start_time=event.wall_ns,
        )
        state = self._runs[run.id] = RunState(run, span, event.wall_ns - event.ts)
        state.dropped_before = self._dropped()

    def _run_finished(self, event: RunFinished) -> None:
        run = event.run
        state = self._runs.pop(run.id, None)
        if state is None:
            return  # the sink was added while the run was going on
        state.finished = True
        for task_id in state.dead:  # handles gone while the run went on
            self._tasks.pop(task_id, None)
        state.dead.clear()
        if self._parked:
            # Only if the sink missed events of an upstream: never leave a task out.
            for task_id, waiting in list(self._parked.items()):
                if waiting.run is state and waiting.parked is not None:
                    del self._parked[task_id]
                    self._emit_unstarted(waiting, waiting.parked.finished)
        span = state.span
        path = run.critical_path()
        labels = [record.label for record in path]
        if len(labels) > attr.MAX_CRITICAL_PATH:
            half = attr.MAX_CRITICAL_PATH // 2
            labels = [*labels[:half], "…", *labels[-(attr.MAX_CRITICAL_PATH - half - 1):]]
        counts = run.counts()
        analysis: dict[str, AttributeValue] = {
            attr.RUN_MAKESPAN_S: run.makespan,
            attr.RUN_CRITICAL_PATH: labels,
            attr.RUN_CRITICAL_PATH_LENGTH: len(path),
            attr.RUN_CRITICAL_PATH_S: sum(record.duration or 0.0 for record in path),
            attr.RUN_TASKS: sum(counts.values()),
        }
        for status, key in attr.RUN_TASK_COUNTS.items():
            analysis[key] = counts[status]
        dropped = self._dropped() - state.dropped_before
        if dropped:
            analysis[attr.RUN_SPANS_DROPPED] = dropped
        handled = sum(1 for record in run.tasks if record.handled)
        if handled:
            analysis[attr.RUN_FAILURES_HANDLED] = handled
        span.set_attributes(analysis)
        # The run failed if a failure went unhandled (a retried, handled one does not
        # fail it: the same rule as leaving the Run block and the command's exit status).
        failures = len(run.failures)
        if run.cancelled:
            span.set_attribute(attr.RUN_CANCELLED, True)
            span.set_status(Status(
                StatusCode.ERROR,
                f"cancelled: {counts[TaskStatus.CANCELLED]} task(s) did not finish",
            ))
        elif failures:
            span.set_status(Status(
                StatusCode.ERROR,
                f"{failures} task{'s' if failures != 1 else ''} failed"
                + (f" ({handled} more failed and were handled)" if handled else ""),
            ))
        span.end(event.ts + state.offset)

    # -- tasks -----------------------------------------------------------------------

    def _task_created(self, event: TaskCreated) -> None:
        task_id = event.task_id
        tasks = self._tasks
        if task_id in tasks:
            return  # reported twice
        run_id = event.run_id
        run = self._runs.get(run_id) if run_id is not None else None
        deps = event.deps
        if run is not None and not self._capture_args and (
            not deps or _all_of(run.run, deps)
        ):
            # Nothing to keep: the run's record holds what the span needs, and the
            # entries of upstreams in the run stay until it ends (see kept.py).
            return
        state = tasks[task_id] = TaskState.of_event(event, run)
        if run is None:
            # Outside a run the parent is captured now, at the call: the caller's span
            # may have ended by the time the task starts, and another may be current then.
            state.parent = otel_context.get_current()
        if self._capture_args:
            state.args = event
        if deps:
            # Hold the upstreams' entries now, while their handles are surely alive: a
            # handle can be gone by the time this task starts.  Upstreams called before
            # the sink was added are not known, so not linked.
            self._resolve(state, self._entry_anywhere)

    def _task_started(self, event: TaskStarted) -> None:
        task_id = event.task_id
        state = self._tasks.get(task_id)
        if state is None:
            state = self._state_in_run(task_id)
            if state is None:
                return  # called before the sink was added
            self._resolve(state, self._tasks.get)
        elif type(state) is not TaskState or not state.pending:
            return  # reported twice
        elif state.ups is None and state.deps:  # an entry made for a dependent to hold
            self._resolve(state, self._tasks.get)
        ts = event.ts
        # Attributes go in at the start (one write, and samplers see them); the status
        # is known only at the end.
        # The run's name is on the run span, the task span's parent: not repeated here.
        ready_ts = event.ready_ts
        limit_wait = event.limit_wait_ns
        if ready_ts is not None and limit_wait is None and event.released_by is not None:
            # A task of a run released by its last upstream (the usual case): one dict.
            attrs: dict[str, AttributeValue] = {
                _TASK_ID: task_id, _TASK_LABEL: state.label,
                _TASK_WAIT_S: (ts - state.ts) / 1e9,
                _TASK_LOOP_WAIT_S: (ts - ready_ts) / 1e9 if ts > ready_ts else 0.0,
                _TASK_RELEASED_BY: event.released_by,
            }
        else:
            attrs = {
                _TASK_ID: task_id, _TASK_LABEL: state.label,
                _TASK_WAIT_S: (ts - state.ts) / 1e9,
            }
            if limit_wait is not None:
                attrs[attr.TASK_LIMIT_WAIT_S] = limit_wait / 1e9
            if ready_ts is not None:  # the wait breakdown: the loop's part, and why
                attrs[_TASK_LOOP_WAIT_S] = max(0, ts - ready_ts - (limit_wait or 0)) / 1e9
                if event.released_by is not None:
                    attrs[_TASK_RELEASED_BY] = event.released_by
        if state.caller_id is not None:
            attrs[attr.TASK_CALLER_ID] = state.caller_id
        if state.args is not None:
            _capture_args(attrs, state.args)
        run = state.run
        if run is None:
            parent, offset = state.parent, CLOCK_OFFSET
        else:
            parent, offset = run.context, run.offset
        ups = state.ups
        if ups:
            if state.exogenous is not None:
                attrs[attr.TASK_EXOGENOUS_UPSTREAM_IDS] = state.exogenous
            links = _links(ups, state.exogenous)
            span = self._tracer.start_span(
                state.name, parent, attributes=attrs, links=links, start_time=ts + offset
            )
            if len(links) > self._links_kept:
                self._check_links(span, state, len(links))
        else:
            span = self._tracer.start_span(
                state.name, parent, attributes=attrs, start_time=ts + offset
            )
        # From here on the task is its Started: one object, watching its handle.
        link = state.link = Link(span.get_span_context())
        started = Started(asyncio.current_task() or NO_HANDLE, self._forget_cb)
        started.id = task_id
        started.link = link
        started.offset = offset
        started.run = run
        started.span = span
        # The body runs in this task's context, right after: make the span current.
        started.token = otel_context.attach(trace.set_span_in_context(span))
        self._tasks[task_id] = started
        state.pending = False
        state.ups = state.parent = state.args = None
        if state.waiters is not None:
            self._span_exists(state)

    def _state_in_run(self, task_id: int) -> TaskState | None:
        """The state of a task of a run the sink follows, made from its record: called
        where the task's events are reported, in its context, so its run is current."""
        run = Run.current()
        run_state = self._runs.get(run.id) if run is not None else None
        if run_state is None:
            return None
        try:
            record = run_state.run.task(task_id)
        except KeyError:
            return None
        return TaskState.of_record(record, run_state)

    def _resolve(self, state: TaskState, entry_of: Callable[[int], Entry | None]) -> None:
        """Look up the upstreams' entries (``entry_of(id)``) and the exogenous ones."""
        ups: list[Entry] = []
        exogenous = None
        for up_id, kind in state.deps:  # (one plain loop: the cheapest form, measured)
            up = entry_of(up_id)
            if up is not None:
                ups.append(up)
            if kind is _EXOGENOUS:
                if exogenous is None:
                    exogenous = [up_id]
                else:
                    exogenous.append(up_id)
        state.ups = ups
        state.exogenous = exogenous

    def _entry_anywhere(self, task_id: int) -> Entry | None:
        """The entry of a task, made now for a task of a followed run that has none yet."""
        entry = self._tasks.get(task_id)
        if entry is not None:
            return entry
        for run_state in self._runs.values():
            try:
                record = run_state.run.task(task_id)
            except KeyError:
                continue
            state = self._tasks[task_id] = TaskState.of_record(record, run_state)
            return state
        return None  # not known: called before the sink was added

    def _loop_blocked(self, event: LoopBlocked) -> None:
        # Reported before the task's end, so its span is still open.
        started = self._tasks.get(event.task_id)
        if type(started) is not Started or started.span is None:
            return
        started.span.add_event(
            attr.LOOP_BLOCKED_EVENT,
            {attr.BLOCKED_S: event.duration_ns / 1e9, "code.location": event.where},
            timestamp=event.ts + started.offset,
        )

    def _attempt_failed(self, event: AttemptFailed) -> None:
        # Span events on the task's one span, not a child span per attempt: the task
        # stays one span, linked to its upstreams and dependents (the DAG), while
        # Jaeger lists the events in order under the span's "Logs", each at its time
        # and marked on the span's bar.  Child spans would also take the spans that
        # instrumented libraries make in the body away from the task span.
        started = self._tasks.get(event.task_id)
        if type(started) is not Started or started.span is None:
            return
        span = started.span
        # The attribute counts the attempts that ran; a retry counts once it has run
        # (at the task's end, or its own AttemptFailed): one cancelled while the task
        # waited to retry never ran.
        if event.attempt > 1:
            span.set_attribute(attr.TASK_ATTEMPTS, event.attempt)
        if event.retry_in is None:  # the last attempt: its error is the task's own
            self._retrying.pop(event.task_id, None)
            if event.timed_out:
                span.set_attribute(attr.TASK_TIMED_OUT, True)
            return
        self._retrying[event.task_id] = event.attempt + 1
        error = event.error
        attrs: dict[str, AttributeValue] = {
            "exception.type": type(error).__qualname__,
            "exception.message": _safe_str(error),
            attr.ATTEMPT: event.attempt,
            attr.ATTEMPT_DURATION_S: (event.ts - event.started_ts) / 1e9,
            attr.RETRY_DELAY_S: event.retry_in,
        }
        if event.timed_out:
            attrs[attr.ATTEMPT_TIMED_OUT] = True
        span.add_event(attr.ATTEMPT_FAILED_EVENT, attrs, timestamp=event.ts + started.offset)

    def _task_finished(self, event: TaskFinished) -> None:
        entry = self._tasks.get(event.task_id)
        if entry is None:  # a task of a run that never ran, or one the sink never saw
            state = self._state_in_run(event.task_id)
            if state is not None:
                self._tasks[event.task_id] = state
                self._finished_unstarted(state, event)
            return
        if not isinstance(entry, Started):
            if entry.pending and entry.parked is None:
                self._finished_unstarted(entry, event)
            return  # else reported twice
        span = entry.span
        if span is None:
            return  # reported twice
        token = entry.token
        entry.span = entry.token = None
        if self._retrying:
            retry = self._retrying.pop(event.task_id, None)
            if retry is not None and event.status is _OK:  # the retry ran, and returned
                span.set_attribute(attr.TASK_ATTEMPTS, retry)
        if event.status is not _OK:
            # An ok task's span carries no status attribute: a span without one (and
            # without status ERROR) is of a task that ended ok.
            span.set_attribute(attr.TASK_STATUS, event.status.value)
            if event.error is not None:
                _record_error(span, event, event.ts + entry.offset)
        if token is not None:
            otel_context.detach(token)
        span.end(event.ts + entry.offset)

    @staticmethod
    def _attributes(state: TaskState) -> dict[str, AttributeValue]:
        attrs: dict[str, AttributeValue] = {
            attr.TASK_ID: state.id, attr.TASK_LABEL: state.label
        }
        if state.caller_id is not None:
            attrs[attr.TASK_CALLER_ID] = state.caller_id
        if state.exogenous is not None:
            attrs[attr.TASK_EXOGENOUS_UPSTREAM_IDS] = state.exogenous
        if state.args is not None:
            _capture_args(attrs, state.args)
        return attrs

    def _finished_unstarted(self, state: TaskState, event: TaskFinished) -> None:
        """A task that never ran: a zero-length span, once its upstreams have spans."""
        if state.ups is None and state.deps:
            # Made from its run's record: upstreams not yet ended get an entry now, to
            # wait on (below).
            self._resolve(state, self._entry_anywhere)
        # The engine settles a task's end in a done-callback: the handle is the one
        # being settled (asyncio.current_task() is no task there).
        task = settling()
        if task is not None and task.id == event.task_id:
            ref = state.ref = HandleRef(task, self._forget_cb)
            ref.id = event.task_id
            ref.run = state.run
        else:
            # No handle to watch, so no later dependent can be linked to it.
            # Dependents called already took hold of the entry.
            self._forget_id(event.task_id, state.run)
        # An upstream may not have a span yet: a dependent stops as soon as one upstream
        # fails, while another may still wait for its own dependencies.  Its span would
        # lack that link, and the DAG an edge; so it waits for the upstream's span.
        missing = [up for up in state.ups or ()
                   if type(up) is TaskState and up.link is None]
        if not missing:
            self._emit_unstarted(state, event)
            return
        state.parked = Parked(event, len(missing))
        for up in missing:
            if up.waiters is None:
                up.waiters = [state]
            else:
                up.waiters.append(state)
        self._parked[event.task_id] = state

    def _emit_unstarted(self, state: TaskState, event: TaskFinished) -> None:
        if not state.pending:
            return
        end = event.ts + state.offset
        attrs = self._attributes(state)
        attrs[attr.TASK_STATUS] = event.status.value
        ups = state.ups
        span = self._tracer.start_span(
            state.name,
            state.parent_context,
            attributes=attrs,
            links=_links(ups, state.exogenous) if ups else (),
            start_time=end,
        )
        if ups and len(ups) > self._links_kept:
            self._check_links(span, state, len(ups))
        if event.error is not None:
            _record_error(span, event, end)
        span.end(end)
        state.link = Link(span.get_span_context())
        state.pending = False
        state.parent = state.ups = state.parked = state.args = None
        if state.waiters is not None:
            self._span_exists(state)

    def _span_exists(self, state: TaskState) -> None:
        """Emit the parked tasks waiting for ``state`` whose upstreams all have spans now."""
        waiters = state.waiters
        state.waiters = None
        for waiter in waiters or ():
            parked = waiter.parked
            if parked is None:
                continue
            parked.missing -= 1
            if parked.missing == 0:
                self._parked.pop(parked.finished.task_id, None)
                self._emit_unstarted(waiter, parked.finished)

    def _check_links(self, span: Span, state: TaskState, given: int) -> None:
        """Did the provider keep every link?  If not, list every upstream in an attribute.

        Checked only for spans with more links than any span found complete so far, so
        that in the usual case it costs one comparison.
        """
        if not getattr(span, "dropped_links", 0):
            self._links_kept = max(self._links_kept, given)
            return
        span.set_attribute(attr.TASK_UPSTREAM_IDS, [up for up, _ in state.deps])
        if self._warned_links:
            return
        self._warned_links = True
        kept = len(getattr(span, "links", ()))
        logger.warning(
            "the tracer provider keeps at most %d links per span, and task %s#%d has %d "
            "dependencies: its span lists them all in the attribute %r instead (and so "
            "does any other such task). To keep every link, give the provider higher "
            "span limits: TracerProvider(span_limits=SpanLimits(max_links=10_000)), or "
            "set OTEL_SPAN_LINK_COUNT_LIMIT; aiodag.trace.configure() does this",
            kept, state.name, state.id, len(state.deps), attr.TASK_UPSTREAM_IDS,
        )

    def _dropped(self) -> int:
        """Spans the provider has dropped so far (known of providers from configure())."""
        provider = self._provider or trace.get_tracer_provider()
        return sum(stats.dropped for stats in export_stats(provider))

    def _forget(self, ref: HandleRef | Started) -> None:
        # The handle is gone, so no task can be called with it any more.  May run in
        # any thread (the garbage collector's): a single dict or list operation is atomic.
        self._forget_id(ref.id, ref.run)

    def _forget_id(self, task_id: int, run: RunState | None) -> None:
        self._retrying.pop(task_id, None)  # (a task that never finished its wait)
        if run is not None and not run.finished:
            # A task of a run going on: dependents in the run, with no entry of their
            # own yet, may still need its span's context.  Dropped when the run ends.
            run.dead.append(task_id)
            if not run.finished:
                return
        self._tasks.pop(task_id, None)


def _record_error(span: Span, event: TaskFinished, end: int) -> None:
    """Status ERROR with a description, and the exception as a span event."""
    error = event.error
    assert error is not None
    if event.status is _UPSTREAM_FAILED:
        # UpstreamError's message names the failed upstream (and the root failure).
        description = _safe_str(error)
        if event.failed_upstream is not None:
            span.set_attribute(attr.TASK_FAILED_UPSTREAM, event.failed_upstream)
    else:
        description = f"{type(error).__name__}: {_safe_str(error)}"
    span.set_status(Status(StatusCode.ERROR, description[: attr.MAX_DESCRIPTION]))
    try:
        span.record_exception(error, timestamp=end)
    except Exception:  # an exception whose __str__ raises: record what we can
        span.add_event(
            "exception", {"exception.type": type(error).__qualname__}, timestamp=end
        )


def _links(ups: list[Entry], exogenous: list[int] | None) -> list[Link]:
    """One link per upstream that has a span; only exogenous ones carry their kind."""
    if exogenous is None:
        return [link for up in ups if (link := up.link) is not None]
    return [Link(link.context, _EXOGENOUS_LINK) if up.id in exogenous else link
            for up in ups if (link := up.link) is not None]


def _safe_str(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return f"<{type(error).__name__}>"


def _capture_args(attrs: dict[str, AttributeValue], event: TaskCreated) -> None:
    """Shortened argument reprs as attributes, bounded in count and length."""
    limit = attr.MAX_ARG_LENGTH
    if event.args:
        attrs[attr.TASK_ARGS] = [_cut(arg, limit) for arg in event.args[: attr.MAX_ARGS]]
    if event.kwargs:
        attrs[attr.TASK_KWARGS] = [
            _cut(f"{key}={value}", limit) for key, value in event.kwargs[: attr.MAX_ARGS]
        ]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _all_of(run: Run, deps: tuple[Dependency, ...]) -> bool:
    """Are all of ``deps`` tasks of ``run``?"""
    task = run.task
    try:
        for up_id, _kind in deps:
            task(up_id)
    except KeyError:
        return False
    return True
