"""``TracingPlugin``: tracing on every Dask worker, set up like :func:`aiodag.trace.configure`.

::

    await client.register_plugin(TracingPlugin("etl", file="trace.jsonl"))

Spans made inside a task's function on a worker then join the task's trace, under its
span (the context travels with each call: :mod:`aiodag.trace.propagation`).  Needs the
``aiodag[dask]`` extra.
"""

from __future__ import annotations

import os
from typing import Any

from distributed import WorkerPlugin

from .workers import configure_worker

__all__ = ["TracingPlugin"]


class TracingPlugin(WorkerPlugin):
    """Sets up tracing in each Dask worker's process with ``configure``'s keywords.

    A ``file`` becomes one file per worker (see :mod:`aiodag.trace.workers`); the spans
    are flushed when the plugin is removed or the worker closes, or on demand with
    ``client.run(aiodag.trace.workers.flush_traces)``.  A worker whose process has a
    tracer provider already keeps it (registering the plugin again changes nothing).
    """

    name = "aiodag-tracing"

    def __init__(self, service_name: str | None = None, *, endpoint: str | None = None,
                 protocol: str | None = None, file: str | os.PathLike[str] | None = None,
                 ) -> None:
        self.settings: dict[str, Any] = {
            "service_name": service_name, "endpoint": endpoint, "protocol": protocol,
            "file": None if file is None else os.fspath(file),
        }
        self._provider: Any = None

    def setup(self, worker: Any) -> None:
        """Configure tracing in the worker's process."""
        self._provider = configure_worker(str(worker.name), **self.settings)

    def teardown(self, worker: Any) -> None:
        """Export the worker's spans so far (the provider stays: OpenTelemetry
        installs one per process, and the process shuts it down at exit)."""
        if self._provider is not None:
            self._provider.force_flush()

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={v!r}" for k, v in self.settings.items() if v is not None)
        return f"TracingPlugin({given})"
