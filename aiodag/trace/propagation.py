"""The trace context of a task, carried with its call to another process or machine.

A task whose plain function runs on a process pool or a Dask cluster cannot take its
:class:`contextvars.Context` along (it does not pickle).  What travels instead is a
W3C ``traceparent`` (and ``tracestate``, baggage), written and read by the
OpenTelemetry propagation API (:mod:`opentelemetry.propagate`, so a user's own
propagators apply), through the engine's plug-in point for remote calls
(:mod:`aiodag.remote`).  On the worker the function runs inside the extracted context:
spans it creates are children of the task's span, in the same trace.  Back on the
coordinator, the task's span gets where and when the call ran
(:data:`~aiodag.trace.attributes.TASK_WORKER` and the queued and running times).

:func:`install` registers the hook; :func:`aiodag.trace.configure` and
:class:`~aiodag.trace.OpenTelemetrySink` call it, so tracing a run is enough.  The
worker needs a tracer provider of its own to export its spans: see
:mod:`aiodag.trace.workers`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from ..remotehook import RemoteFacts, remote_hook, set_remote_hook
from . import attributes as attr

__all__ = ["TraceContextHook", "install", "run_in_carrier"]


def run_in_carrier(carrier: dict[str, str], fn: Callable[..., Any], args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Any:
    """On the worker: ``fn(*args, **kwargs)`` with the carrier's context current."""
    token = otel_context.attach(propagate.extract(carrier))
    try:
        return fn(*args, **kwargs)
    finally:
        otel_context.detach(token)


class TraceContextHook:
    """The engine's remote-call hook (:class:`aiodag.remotehook.RemoteHook`) for tracing."""

    enter = staticmethod(run_in_carrier)

    def capture(self) -> dict[str, str] | None:
        """The current context (the task's span) as W3C trace-context headers."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return carrier or None  # no span, nothing to carry

    def observe(self, facts: RemoteFacts) -> None:
        """Put where and when the call ran on the task's span."""
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes({
                attr.TASK_WORKER: facts.worker,
                attr.TASK_WORKER_QUEUED_S: facts.queued_s,
                attr.TASK_WORKER_RUNNING_S: facts.running_s,
            })

    def __repr__(self) -> str:
        return "<aiodag.trace TraceContextHook (W3C trace context via opentelemetry.propagate)>"


_HOOK = TraceContextHook()


def install() -> None:
    """Carry the trace context with every remote call from now on (idempotent; a hook
    the application installed itself is left in place)."""
    if remote_hook() is None:
        set_remote_hook(_HOOK)
