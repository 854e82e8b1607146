"""``TracingPlugin``: tracing on every Dask worker, set up like :func:`aiodag.trace.configure`.

::

    await client.register_plugin(TracingPlugin("etl", file="trace.jsonl"))

Spans made inside a task's function on a worker then join the task's trace, under its
span (the context travels with each call: :mod:`aiodag.trace.propagation`).  Needs the
``aiodag[dask]`` extra.
"""

from __future__ import annotations

from typing import Any

from distributed import WorkerPlugin

from .workers import WorkerSettings, configure_worker

__all__ = ["TracingPlugin"]


class TracingPlugin(WorkerSettings, WorkerPlugin):
    """Sets up tracing in each Dask worker's process with ``configure``'s keywords.

    A ``file`` becomes one file per worker (see :mod:`aiodag.trace.workers`); the spans
    are flushed when the plugin is removed or the worker closes, or on demand with
    ``client.run(aiodag.trace.workers.flush_traces)``.  A worker whose process has a
    tracer provider already keeps it (registering the plugin again changes nothing).
    """

    name = "aiodag-tracing"

    _provider: Any = None  # (the worker's, once set up)

    def setup(self, worker: Any) -> None:
        """Configure tracing in the worker's process."""
        self._provider = configure_worker(str(worker.name), **self.settings)

    def teardown(self, worker: Any) -> None:
        """Export the worker's spans so far (the provider stays: OpenTelemetry
        installs one per process, and the process shuts it down at exit)."""
        if self._provider is not None:
            self._provider.force_flush()

