"""Tracing in worker processes: process pools and Dask workers export their own spans.

The trace context travels with each remote call (:mod:`aiodag.trace.propagation`), but a
span made on a worker is exported by the worker's process, which needs its own tracer
provider.  :func:`configure_worker` builds it with :func:`~aiodag.trace.configure`'s
settings; :class:`ProcessTracing` runs it as a process pool's initializer and
:class:`aiodag.trace.dask.TracingPlugin` on each Dask worker.

A ``file`` gets one file per worker process, since processes appending to one file could
interleave their lines: ``{worker}`` in the name is replaced by the worker's name, and
without it ``-<worker>`` goes before the suffix (``trace-1.jsonl``).  Each file is OTLP
JSON lines, so ``cat trace*.jsonl > all.jsonl`` joins them into one trace.
"""

from __future__ import annotations

import multiprocessing.util
import os
import re
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from .configure import configure

__all__ = ["ProcessTracing", "configure_worker", "flush_traces", "worker_file"]


def configure_worker(worker: str, service_name: str | None = None, *,
                     endpoint: str | None = None, protocol: str | None = None,
                     file: str | None = None) -> TracerProvider | None:
    """Set up tracing in this worker process as ``configure(...)`` would, with ``file``
    made this worker's own (:func:`worker_file`).  Returns the provider, or ``None`` if
    the process has a global one already (the application's: it is kept)."""
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return None
    return configure(service_name, endpoint=endpoint, protocol=protocol,
                     file=None if file is None else worker_file(file, worker))


def worker_file(file: str, worker: str) -> str:
    """The file worker ``worker`` writes for the shared name ``file``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", worker).strip("._") or "worker"
    if "{worker}" in file:
        return file.replace("{worker}", safe)
    head, sep, tail = file.rpartition(os.sep)
    stem, dot, suffix = tail.rpartition(".")
    if not dot or not stem:
        return f"{file}-{safe}"
    return f"{head}{sep}{stem}-{safe}.{suffix}"


def flush_traces() -> bool:
    """Export the spans this process has ended so far (on every Dask worker:
    ``client.run(aiodag.trace.workers.flush_traces)``)."""
    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    return bool(flush()) if flush is not None else True


class WorkerSettings:
    """``configure()``'s settings, kept to configure tracing in a worker process (the
    base of :class:`ProcessTracing` and of the Dask plugin)."""

    def __init__(self, service_name: str | None = None, *, endpoint: str | None = None,
                 protocol: str | None = None, file: str | os.PathLike[str] | None = None,
                 ) -> None:
        self.settings: dict[str, Any] = {
            "service_name": service_name, "endpoint": endpoint, "protocol": protocol,
            "file": None if file is None else os.fspath(file),
        }

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={v!r}" for k, v in self.settings.items() if v is not None)
        return f"{type(self).__name__}({given})"


class ProcessTracing(WorkerSettings):
    """A process pool's initializer that sets tracing up in each worker process.

    ``ProcessPoolExecutor(initializer=ProcessTracing(file="trace.jsonl"))`` — the
    keywords are :func:`~aiodag.trace.configure`'s.  Each worker writes
    ``trace-<pid>.jsonl`` and flushes it when the pool shuts it down.
    """


    def __call__(self) -> None:
        provider = configure_worker(str(os.getpid()), **self.settings)
        if provider is not None:
            # A pool's worker leaves through os._exit (no atexit handlers), but runs
            # multiprocessing's finalizers: the spans are flushed there.
            multiprocessing.util.Finalize(provider, provider.shutdown, exitpriority=10)
