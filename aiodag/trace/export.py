"""Exporting spans in batches without losing count: never drop for files, count drops else.

The SDK's ``BatchSpanProcessor`` buffers ended spans in a bounded queue and, when the
queue is full, drops spans with one log line and no count.  A fast DAG ends spans far
faster than the OTLP JSON file exporter encodes them (a 100,000-task run lost 23 % of
its spans that way), and a trace missing spans is missing part of the DAG.
:class:`ExportProcessor` hands full batches to a writer thread through a small bounded
queue, so memory stays bounded whatever the run's size, and when that queue is full:

* ``block=True`` (files): the code ending spans waits for the writer — back-pressure
  slows the pipeline down to the writer's speed, and no span is ever dropped;
* ``block=False`` (network): the batch is dropped, as the SDK does, but counted.

Every processor keeps an :class:`ExportStats` — spans exported, spans dropped, the
last failure — readable with :func:`aiodag.trace.export_stats`, so the run span, a warning and the
command's summary can say how many spans did not arrive.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import weakref
from collections.abc import Sequence

from opentelemetry.context import (
    _SUPPRESS_INSTRUMENTATION_KEY,  # the SDK's own processors use it the same way
    Context,
    attach,
    detach,
    set_value,
)
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .stats import ExportStats

__all__ = ["ExportProcessor"]

logger = logging.getLogger("aiodag.trace.export")


class _Flush:
    """A marker through the queue: set once every batch before it was exported."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class ExportProcessor(SpanProcessor):
    """Batches ended spans to ``exporter`` from a writer thread; see the module's doc.

    At most ``max_queue_size`` spans wait in the queue (rounded up to whole batches of
    ``batch_size``), plus one batch being filled and one being exported.  A partial
    batch leaves after ``schedule_delay_s`` without a new full one.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        stats: ExportStats,
        *,
        block: bool,
        max_queue_size: int = 16_384,
        batch_size: int = 512,
        schedule_delay_s: float = 1.0,
    ) -> None:
        if batch_size < 1 or max_queue_size < 1 or schedule_delay_s <= 0:
            raise ValueError(
                f"batch_size and max_queue_size must be at least 1 and schedule_delay_s "
                f"above 0, got {batch_size!r}, {max_queue_size!r}, {schedule_delay_s!r}"
            )
        self.stats = stats
        self._exporter = exporter
        self._block = block
        self._batch_size = batch_size
        self._delay = schedule_delay_s
        self._buffer: list[ReadableSpan] = []
        self._lock = threading.Lock()  # guards the buffer and the counts
        self._batches: queue.Queue[list[ReadableSpan] | _Flush | object] = queue.Queue(
            maxsize=-(-max_queue_size // batch_size)
        )
        self._stopped = False
        self._warned = False
        self._worker = self._start_worker()
        if hasattr(os, "register_at_fork"):
            # A forked child (a process pool's worker) has no writer thread: a blocking
            # queue would fill and hang it.  Give it its own, as the SDK's processors do.
            weak_self = weakref.ref(self)

            def after_in_child() -> None:
                processor = weak_self()
                if processor is not None:
                    processor._after_fork()

            os.register_at_fork(after_in_child=after_in_child)

    def _start_worker(self) -> threading.Thread:
        worker = threading.Thread(
            target=self._work, name=f"aiodag-export {self.stats.where}", daemon=True
        )
        worker.start()
        return worker

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._buffer = []  # the parent's spans: the parent exports them
        self._batches = queue.Queue(maxsize=self._batches.maxsize)
        if not self._stopped:
            self._worker = self._start_worker()

    def __repr__(self) -> str:
        s = self.stats
        mode = "blocking" if self._block else "dropping"
        return f"<ExportProcessor {s.where} {mode} exported={s.exported} dropped={s.dropped}>"

    # -- the span processor interface ----------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue an ended, sampled span; hand over the batch once it is full."""
        context = span.context
        if context is None or not context.trace_flags.sampled:
            return
        with self._lock:
            if self._stopped:
                self.stats.dropped += 1
                return
            buffer = self._buffer
            buffer.append(span)
            if len(buffer) < self._batch_size:
                return
            self._buffer = []
        self._hand_over(buffer)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export every span ended so far; False if that took longer than the timeout."""
        timeout = timeout_millis / 1000
        with self._lock:
            if self._stopped:
                return False
            buffer, self._buffer = self._buffer, []
        if buffer:
            self._hand_over(buffer)
        marker = _Flush()
        try:
            self._batches.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    def shutdown(self) -> None:
        """Flush, stop the writer thread, shut the exporter down, report any drops."""
        if self._stopped:
            return
        self.force_flush()
        with self._lock:
            self._stopped = True
            leftover, self._buffer = self._buffer, []
            self.stats.dropped += len(leftover)  # ended during the flush, after the timeout
        self._batches.put(_STOP)
        self._worker.join(timeout=30)
        self._exporter.shutdown()
        self.report()

    def report(self) -> None:
        """Warn once, with the numbers, if spans were dropped."""
        stats = self.stats
        if stats.dropped and not self._warned:
            self._warned = True
            logger.warning(
                "%d of %d spans were not exported to %s%s",
                stats.dropped, stats.dropped + stats.exported, stats.where,
                f" (last error: {stats.reason})" if stats.reason else
                " (the export queue was full)",
            )

    # -- the writer thread ------------------------------------------------------------

    def _hand_over(self, batch: list[ReadableSpan]) -> None:
        if self._block:
            self._batches.put(batch)  # back-pressure: wait while the writer catches up
            return
        try:
            self._batches.put_nowait(batch)
        except queue.Full:
            with self._lock:
                self.stats.dropped += len(batch)

    def _work(self) -> None:
        while True:
            try:
                item = self._batches.get(timeout=self._delay)
            except queue.Empty:
                with self._lock:  # quiet for a while: send the partial batch
                    item, self._buffer = self._buffer, []
                if not item:
                    continue
            if item is _STOP:
                return
            if isinstance(item, _Flush):
                item.done.set()
            elif isinstance(item, list):
                self._export(item)

    def _export(self, batch: Sequence[ReadableSpan]) -> None:
        # Spans of instrumented libraries the exporter uses (an HTTP client) would be
        # exported in turn, for ever: the SDK's processors suppress them the same way.
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            result = self._exporter.export(batch)
        except Exception as exc:
            logger.exception("exporting %d spans to %s failed", len(batch), self.stats.where)
            result = SpanExportResult.FAILURE
            self.stats.reason = f"{type(exc).__name__}: {exc}"
        finally:
            detach(token)
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.stats.exported += len(batch)
            else:
                self.stats.dropped += len(batch)
