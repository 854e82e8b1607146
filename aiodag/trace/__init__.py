"""aiodag.trace: runs and tasks as OpenTelemetry traces, exported to Jaeger or a file.

>>> from aiodag.trace import OpenTelemetrySink, configure
>>> provider = configure("etl", endpoint="localhost:4317")   # Jaeger's OTLP port
>>> async with aiodag.Run("etl", sinks=[OpenTelemetrySink(provider)]):
...     upload(merge(fetch("a"), fetch("b")))

:class:`OpenTelemetrySink` needs only the OpenTelemetry API; :func:`configure` builds
an SDK provider with the official exporters, and :func:`export_stats` tells how many of
its spans were exported and dropped.  The attribute names the sink writes are constants
in :mod:`aiodag.trace.attributes`.
"""

from .configure import configure
from .sink import OpenTelemetrySink
from .stats import ExportStats, export_stats
from .workers import ProcessTracing

__all__ = ["ExportStats", "OpenTelemetrySink", "ProcessTracing", "configure", "export_stats"]
