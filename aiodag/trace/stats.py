"""How many spans reached each destination of a provider built by ``configure``.

No OpenTelemetry SDK import here: :class:`~aiodag.trace.OpenTelemetrySink` (API only)
reads these counts for its run spans.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

__all__ = ["ExportStats", "export_stats", "register"]


@dataclass
class ExportStats:
    """What became of the spans sent to one destination."""

    where: str
    """The destination: a file path or an OTLP endpoint."""
    exported: int = 0
    """Spans the exporter accepted."""
    dropped: int = 0
    """Spans that will never arrive: a full queue, a failed export, ended after shutdown."""
    reason: str | None = None
    """Why the last failed export failed (the exporter's own message), if one did."""


_registry: weakref.WeakKeyDictionary[object, list[ExportStats]] = weakref.WeakKeyDictionary()


def export_stats(provider: object) -> tuple[ExportStats, ...]:
    """The export statistics of a provider built by :func:`aiodag.trace.configure`.

    One :class:`ExportStats` per destination (the file, the OTLP endpoint); empty for
    any other provider, whose processors aiodag does not know.
    """
    return tuple(_registry.get(provider, ()))


def register(provider: object, stats: ExportStats) -> None:
    """Make ``stats`` known as one of ``provider``'s destinations."""
    _registry.setdefault(provider, []).append(stats)
