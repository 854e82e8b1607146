"""Running a pipeline with everything the command writes: trace, drawings, progress.

A run writes ``DIR/trace.jsonl`` (OTLP JSON lines, for Jaeger UI and ``aiodag render``),
``DIR/pipeline.svg`` (re-rendered while the run goes) with ``DIR/pipeline.html``, a
page that shows it and refreshes itself (its path is printed when the run starts),
``DIR/pipeline.png``, ``DIR/timeline.svg`` and ``DIR/run.perfetto.json`` — also when
the pipeline fails.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import is_task_failure
from ..runs import Run
from ..trace.stats import ExportStats, export_stats
from ..typing import Sink
from .errors import UsageError
from .progress import Progress
from .timing import write_timing_outputs

__all__ = ["Outputs", "RunResult"]

logger = logging.getLogger("aiodag.cli")


@dataclass
class RunResult:
    """A finished run, and whether (and how) it failed."""

    run: Run
    pipeline_errors: list[BaseException] = field(default_factory=list)
    """Exceptions raised by the pipeline function itself, not by its tasks."""
    signal: int | None = None
    """The signal (SIGINT, SIGTERM) that stopped the run, if one did."""
    exit_request: SystemExit | None = None
    """The pipeline function called ``sys.exit()``: the command exits so, once all is
    written."""

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
        exit_request: SystemExit | None = None
        stopping = _SignalStop()
        # The exporters' warnings are meant for library users; the command says what
        # became of the trace itself, once, at the end (see _export_report).
        export_logger = logging.getLogger("aiodag.trace.export")
        export_logger.addFilter(_silence)
        try:
            with stopping, Progress() as progress:
                run = Run(name, sinks=[*sinks, progress], raise_errors=False)
                try:
                    async with run:
                        try:
                            await pipeline()
                        except SystemExit as exc:
                            # sys.exit() in the pipeline: stop the run as for an error
                            # (its tasks cancelled), write everything, exit with its code.
                            exit_request = exc
                            raise _ExitRequested from None
                        except Exception as exc:
                            if not is_task_failure(exc):
                                raise  # the function's own error: the run cancels the rest
                            # else it awaited a task that failed: that task is reported
                except ExceptionGroup as group:
                    # The pipeline function itself raised (its tasks' failures are on
                    # the run): the run has cancelled what was left. Report, still write.
                    errors.extend(e for e in group.exceptions
                                  if not isinstance(e, _ExitRequested))
                except asyncio.CancelledError:
                    if not stopping.stopped_by:
                        raise
                    # A signal: the run has cancelled its tasks and ended their spans.
                    # What ran is traced; write it all, as for a failed run.
            await live.flush()
        finally:
            try:
                provider.shutdown()  # flushes the trace file (and the OTLP export, bounded)
            finally:
                export_logger.removeFilter(_silence)
        self._written.extend(self._export_report(export_stats(provider)))
        if live.page_path is not None and live.last_error is None:
            self._written.append(f"live view: {live.page_path}")
        try:
            for path in (self.svg_path, self.png_path):
                render(run, path, **self.options)
                self._written.append(f"drawing: {path}")
        except GraphvizNotFoundError as exc:
            # The trace is written and is the source of truth; say how to get the rest.
            self._written.append(f"drawings not written: {exc}")
        self._written.extend(write_timing_outputs(run, self.out))
        return RunResult(run, errors, stopping.stopped_by, exit_request)


    def _export_report(self, destinations: Sequence[ExportStats]) -> list[str]:
        lines = []
        for stats in destinations:
            total = stats.exported + stats.dropped
            if stats.where == os.fspath(self.trace_path):
                lines.append(f"trace: {self.trace_path} ({stats.exported:,} spans)"
                             if not stats.dropped else
                             f"trace: {self.trace_path}: {stats.exported:,} of {total:,} "
                             f"spans written, {stats.dropped:,} lost "
                             f"({stats.reason or 'the file exporter failed: see above'})")
            elif not stats.dropped:
                lines.append(f"trace exported over OTLP to {stats.where} "
                             f"({stats.exported:,} spans)")
            else:
                why = (f"{stats.reason}; is an OTLP receiver such as Jaeger listening "
                       "there?" if stats.reason else
                       "the export queue was full: the receiver did not keep up")
                lines.append(
                    f"trace {'partly' if stats.exported else 'not'} exported over OTLP to "
                    f"{stats.where}: {stats.exported:,} of {total:,} spans exported, "
                    f"{stats.dropped:,} dropped ({why})"
                )
        return lines


class _ExitRequested(Exception):
    """Stands in the run for a SystemExit of the pipeline function (so that the run ends
    as for the function's own error: its tasks cancelled)."""


def _silence(record: logging.LogRecord) -> bool:
    return False


class _SignalStop:
    """While entered: SIGINT and SIGTERM cancel the current task (the command's run).

    The run then cancels its tasks and ends, so the trace, the drawings and the
    summary are still written; :attr:`stopped_by` says which signal came.  A signal
    received while the run is already stopping cancels its tasks again.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.stopped_by: int | None = None
        self._task: asyncio.Task[Any] | None = None
        self._installed: list[int] = []

    def __enter__(self) -> _SignalStop:
        loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for signum in self.SIGNALS:
            try:
                loop.add_signal_handler(signum, self._received, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # Windows, or not the main thread: Ctrl-C stays KeyboardInterrupt
            self._installed.append(signum)
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._installed:
            loop.remove_signal_handler(signum)
        self._installed.clear()
        if self.stopped_by is not None and self._task is not None:
            while self._task.cancelling():
                self._task.uncancel()  # handled: the outputs are written next

    def _received(self, signum: int) -> None:
        if self.stopped_by is None:
            self.stopped_by = signum
            logger.warning("%s received: cancelling the run, then writing its trace, "
                           "drawing and summary", signal.Signals(signum).name)
        if self._task is not None:
            self._task.cancel(f"{signal.Signals(signum).name} received")
