"""Running a pipeline with everything the command writes: trace, drawings, progress.

A run writes ``DIR/trace.jsonl`` (OTLP JSON lines, for Jaeger UI and ``aiodag render``),
``DIR/pipeline.svg`` (re-rendered while the run goes) with ``DIR/pipeline.html``, a
page that shows it and refreshes itself (its path is printed when the run starts), and
``DIR/pipeline.png`` — also when the pipeline fails.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import is_task_failure
from ..run import Run
from ..typing import Sink
from .errors import UsageError
from .progress import Progress

__all__ = ["Outputs", "RunResult"]

logger = logging.getLogger("aiodag.cli")


@dataclass
class RunResult:
    """A finished run, and whether (and how) it failed."""

    run: Run
    pipeline_errors: list[BaseException] = field(default_factory=list)
    """Exceptions raised by the pipeline function itself, not by its tasks."""

    @property
    def failed(self) -> bool:
        """True if a task or the pipeline function raised."""
        return bool(self.run.failures or self.pipeline_errors)


def _protocol_for(url: str, explicit: str | None) -> str | None:
    if explicit is not None:
        return explicit
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.port == 4318 or parts.path.rstrip("/").endswith("/v1/traces"):
        return "http"
    return None  # configure() decides: $OTEL_EXPORTER_OTLP_PROTOCOL, else gRPC


class Outputs:
    """The trace and drawing outputs of one command, in directory ``out``."""

    def __init__(self, out: Path, *, otlp: str | None, otlp_protocol: str | None,
                 options: dict[str, Any]) -> None:
        self.out = out
        self.otlp = otlp or None
        self.otlp_protocol = _protocol_for(otlp, otlp_protocol) if otlp else None
        self.options = options
        self.trace_path = out / "trace.jsonl"
        self.svg_path = out / "pipeline.svg"
        self.png_path = out / "pipeline.png"
        self._written: list[str] = []

    def written(self) -> list[str]:
        """One line per output written, for the user."""
        return list(self._written)

    def _prepare(self) -> None:
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            # The file exporter appends; each command writes a trace of its own run.
            self.trace_path.unlink(missing_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot write to {str(self.out)!r}: {exc.strerror or exc}") from None

    async def run(self, name: str, pipeline: Callable[[], Awaitable[object]]) -> RunResult:
        """Run ``pipeline`` in a :class:`Run` named ``name`` with all the outputs."""
        from ..trace import OpenTelemetrySink, configure
        from ..viz import GraphvizNotFoundError, LiveSVG, render

        self._prepare()
        provider = configure(
            "aiodag", endpoint=self.otlp, protocol=self.otlp_protocol,
            file=self.trace_path, install=False,
        )
        live = LiveSVG(self.svg_path, interval=0.5, **self.options)
        if live.page_path is not None:
            # On stderr with the progress display: stdout is the report, read by scripts.
            print(f"live view: {live.page_path.resolve().as_uri()} (open it in a browser; "
                  "it follows the run)", file=sys.stderr, flush=True)
        sinks: list[Sink] = [OpenTelemetrySink(provider), live]
        errors: list[BaseException] = []
        try:
            with Progress() as progress:
                run = Run(name, sinks=[*sinks, progress], raise_errors=False)
                try:
                    async with run:
                        try:
                            await pipeline()
                        except Exception as exc:
                            if not is_task_failure(exc):
                                raise  # the function's own error: the run cancels the rest
                            # else it awaited a task that failed: that task is reported
                except ExceptionGroup as group:
                    # The pipeline function itself raised (its tasks' failures are on
                    # the run): the run has cancelled what was left. Report, still write.
                    errors.extend(group.exceptions)
            await live.flush()
        finally:
            provider.shutdown()  # flushes the trace file (and the OTLP export, bounded)
        self._written.append(f"trace: {self.trace_path}")
        if self.otlp:
            self._written.append(f"trace exported over OTLP to {self.otlp}")
        if live.page_path is not None and live.last_error is None:
            self._written.append(f"live view: {live.page_path}")
        try:
            for path in (self.svg_path, self.png_path):
                render(run, path, **self.options)
                self._written.append(f"drawing: {path}")
        except GraphvizNotFoundError as exc:
            # The trace is written and is the source of truth; say how to get the rest.
            self._written.append(f"drawings not written: {exc}")
        return RunResult(run, errors)
