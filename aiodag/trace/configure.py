"""``configure``: an OpenTelemetry SDK set up to export traces, in one call.

::

    configure()                                   # OTLP/gRPC to localhost:4317 (Jaeger)
    configure(endpoint="jaeger:4318", protocol="http")
    configure(file="traces.jsonl")                # OTLP JSON lines; no server needed

Everything here is standard OpenTelemetry: an SDK ``TracerProvider`` and the official
OTLP exporters (gRPC or HTTP/protobuf) and OTLP JSON file exporter.  What aiodag adds:

* nothing lost silently: span limits that keep every link (one per dependency), and
  an :class:`~aiodag.trace.export.ExportProcessor` per destination instead of the
  SDK's ``BatchSpanProcessor``, which never drops a span bound for a file and counts
  those a network export drops (:func:`aiodag.trace.export_stats`);
* the behaviour when the collector is not there: the pipeline must not notice, the user
  must get one clear warning (not a retry log per batch), and flushing at exit must take
  seconds, not minutes.  :class:`_ReportingExporter` does that.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from . import propagation
from .export import ExportProcessor
from .stats import ExportStats, register

__all__ = ["DEFAULT_SERVICE_NAME", "EXPORT_TIMEOUT_S", "RETRY_AFTER_S", "configure"]

logger = logging.getLogger("aiodag.trace.export")

DEFAULT_SERVICE_NAME = "aiodag"
"""``service.name`` when neither the argument nor ``OTEL_SERVICE_NAME`` gives one."""
EXPORT_TIMEOUT_S = 5.0
"""Seconds one OTLP export may take, retries included, unless ``OTEL_EXPORTER_OTLP_TIMEOUT``
(or ``..._TRACES_TIMEOUT``) says otherwise.  It also bounds the flush at exit."""
RETRY_AFTER_S = 10.0
"""After a failed export, batches are dropped at once for this many seconds."""
_MAX_QUEUE_SIZE = 16_384
"""Spans waiting for export (the SDK's default is 2,048): a fast DAG ends many spans at
once.  For a file, a full queue makes the pipeline wait; over the network, it drops
spans, and counts them."""
_BATCH_SIZE = 512
"""Spans per export (the SDK's default)."""
_SCHEDULE_DELAY_MS = 1000
"""A partial batch leaves after this many milliseconds without a full one."""

_PROTOCOLS = {"grpc": "grpc", "http": "http", "http/protobuf": "http"}
_DEFAULT_ENDPOINTS = {"grpc": "http://localhost:4317", "http": "http://localhost:4318/v1/traces"}
_JAEGER_HINT = (
    "Is Jaeger running? Start one with `docker run --rm -p 16686:16686 -p 4317:4317 "
    "-p 4318:4318 jaegertracing/jaeger:latest`, or write the trace to a file with "
    "aiodag.trace.configure(file='trace.jsonl')"
)


def configure(
    service_name: str | None = None,
    *,
    endpoint: str | None = None,
    protocol: str | None = None,
    file: str | os.PathLike[str] | None = None,
    install: bool = True,
) -> TracerProvider:
    """Build an SDK ``TracerProvider`` that exports spans, install it, and return it.

    * ``service_name``: the ``service.name`` Jaeger lists traces under; by default
      ``$OTEL_SERVICE_NAME``, else ``"aiodag"``.
    * ``endpoint``: where an OTLP receiver (Jaeger) listens, e.g. ``"localhost:4317"``
      or ``"https://collector.example:4318"``; without a scheme it is plain
      ``http://``.  For ``protocol="http"`` the ``/v1/traces`` path is added when
      missing.  By default ``$OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
      ``$OTEL_EXPORTER_OTLP_ENDPOINT``, else ``localhost`` on the protocol's port.
    * ``protocol``: ``"grpc"`` (Jaeger's port 4317) or ``"http"`` (HTTP/protobuf, port
      4318); by default ``$OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` or
      ``$OTEL_EXPORTER_OTLP_PROTOCOL``, else ``"grpc"``.
    * ``file``: append the spans to this file in the OTLP JSON lines format, which
      Jaeger UI's "Upload" tab loads and ``aiodag render`` reads.  With ``file`` alone
      (no ``endpoint``, no endpoint variable) nothing is sent over the network;
      ``configure()`` with neither exports to the OTLP default, ``localhost``.
    * ``install``: make the provider the global one, which
      :class:`~aiodag.trace.OpenTelemetrySink` uses by default.

    The other standard variables (``OTEL_EXPORTER_OTLP_HEADERS``, ``..._TIMEOUT``,
    ``..._COMPRESSION``, ``..._CERTIFICATE``, ``OTEL_RESOURCE_ATTRIBUTES``,
    ``OTEL_SPAN_LINK_COUNT_LIMIT``) are honoured by the OpenTelemetry SDK and exporters
    themselves; ``OTEL_BSP_MAX_QUEUE_SIZE``, ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE`` and
    ``OTEL_BSP_SCHEDULE_DELAY`` (milliseconds) size the export queues.

    Spans bound for ``file`` are never dropped: when the writer falls behind, ending a
    span waits for room.  If the receiver cannot be reached, the pipeline runs on: the
    warning is logged once (logger ``aiodag.trace.export``), spans are dropped (and
    counted) until the receiver answers, ``provider.shutdown()`` (run at exit) takes at
    most about :data:`EXPORT_TIMEOUT_S` and warns with the number of spans lost.

    >>> provider = configure("etl", endpoint="localhost:4317")
    >>> async with aiodag.Run("etl", sinks=[OpenTelemetrySink()]): ...
    >>> provider.shutdown()   # flush now (it also runs at exit)
    """
    protocol = _resolve_protocol(protocol)
    if install and not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        raise RuntimeError(
            f"a global tracer provider is already installed "
            f"({trace.get_tracer_provider()!r}), and OpenTelemetry lets a process install "
            "only one; call configure(..., install=False) and pass the provider it "
            "returns to OpenTelemetrySink(provider)"
        )
    resource = _resource(service_name)
    # Exporters first: a bad path or endpoint raises before a provider exists.
    processors: list[ExportProcessor] = []
    if file is not None:
        # A file never drops a span: when the writer falls behind, ending spans waits.
        stats = ExportStats(os.fspath(file))
        processors.append(_processor(FileSpanExporter(file), stats, block=True))
    if endpoint is not None or file is None or _endpoint_from_env() is not None:
        # Over the network, a slow or absent receiver must not slow the pipeline down:
        # spans that do not fit are dropped, and counted.
        exporter = _otlp_exporter(protocol, endpoint)
        processors.append(_processor(exporter, exporter.stats, block=False))
    provider = TracerProvider(resource=resource, span_limits=_span_limits())
    for processor in processors:
        provider.add_span_processor(processor)
        register(provider, processor.stats)
    if install:
        trace.set_tracer_provider(provider)
    propagation.install()  # remote task calls carry the trace context (issue 14)
    return provider


# -- building blocks --------------------------------------------------------------------

def _resolve_protocol(protocol: str | None) -> str:
    source = "protocol"
    if protocol is None:
        for variable in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
            if value := os.environ.get(variable, "").strip():
                protocol, source = value, f"${variable}"
                break
        else:
            return "grpc"
    try:
        return _PROTOCOLS[protocol]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown OTLP protocol {protocol!r} in {source} (must be one of "
            f"{sorted(_PROTOCOLS)}); Python's OTLP exporters speak gRPC and HTTP/protobuf"
        ) from None


def _resource(service_name: str | None) -> Resource:
    if service_name is not None:
        if not isinstance(service_name, str) or not service_name:
            raise TypeError(
                f"service_name must be a non-empty string, got {service_name!r}; "
                "or leave it out for $OTEL_SERVICE_NAME or 'aiodag'"
            )
        return Resource.create({SERVICE_NAME: service_name})
    resource = Resource.create()  # reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


def _endpoint_from_env() -> str | None:
    for variable in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        if value := os.environ.get(variable, "").strip():
            return value
    return None


def _timeout() -> float | None:
    """Our timeout, unless the standard variables set one (then the exporter reads it)."""
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TIMEOUT"
    ):
        return None
    return EXPORT_TIMEOUT_S


def _otlp_exporter(protocol: str, endpoint: str | None) -> _ReportingExporter:
    exporter: SpanExporter
    if endpoint is None:
        # The exporters read the variables themselves (with their own rules, such as
        # appending /v1/traces to OTEL_EXPORTER_OTLP_ENDPOINT but not to ..._TRACES_...).
        where = _endpoint_from_env() or _DEFAULT_ENDPOINTS[protocol]
        url = None
    else:
        if not isinstance(endpoint, str) or not endpoint.strip():
            raise TypeError(
                f"endpoint must be a non-empty string such as 'localhost:4317', "
                f"got {endpoint!r}"
            )
        url = where = _endpoint_url(protocol, endpoint.strip())
    if protocol == "grpc":
        exporter = GrpcSpanExporter(endpoint=url, timeout=_timeout())
    else:
        exporter = HttpSpanExporter(endpoint=url, timeout=_timeout())
    return _ReportingExporter(exporter, where)


def _endpoint_url(protocol: str, endpoint: str) -> str:
    if "://" not in endpoint:
        # A local Jaeger speaks plain text; without a scheme the gRPC exporter would
        # try TLS, and the HTTP one would not parse the address at all.
        endpoint = "http://" + endpoint
    if protocol == "grpc":
        return endpoint
    parts = urlsplit(endpoint)
    path = parts.path.rstrip("/")
    if not path.endswith("/v1/traces"):
        path += "/v1/traces"
    return urlunsplit(parts._replace(path=path))


def _span_limits() -> SpanLimits:
    # One link per dependency: the SDK's default of 128 links would drop edges of the
    # DAG, silently.  An explicit OTEL_SPAN_LINK_COUNT_LIMIT is the user's choice (the
    # sink then lists every upstream in an attribute, and warns).
    if os.environ.get("OTEL_SPAN_LINK_COUNT_LIMIT", "").strip():
        return SpanLimits()
    return SpanLimits(max_links=SpanLimits.UNSET)


def _processor(exporter: SpanExporter, stats: ExportStats, *, block: bool) -> ExportProcessor:
    return ExportProcessor(
        exporter, stats, block=block,
        max_queue_size=_env_int("OTEL_BSP_MAX_QUEUE_SIZE", _MAX_QUEUE_SIZE),
        batch_size=_env_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", _BATCH_SIZE),
        schedule_delay_s=_env_int("OTEL_BSP_SCHEDULE_DELAY", _SCHEDULE_DELAY_MS) / 1000,
    )


def _env_int(variable: str, default: int) -> int:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"${variable} must be a whole number above 0, got {text!r}")
    return value


# -- one clear warning ---------------------------------------------------------------------

_capturing = threading.local()
_RETRYING = re.compile(r",? retrying in [0-9.]+ ?s")


class _CaptureFilter(logging.Filter):
    """Holds back the records an exporter logs while :class:`_ReportingExporter` calls it.

    Only in that thread and during that call, so the exporters' logs elsewhere are
    untouched; what is held back is summed up in the reporting exporter's own message.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        records: list[logging.LogRecord] | None = getattr(_capturing, "records", None)
        if records is None:
            return True
        records.append(record)
        return False


_CAPTURE_FILTER = _CaptureFilter()


def _capture_logs_of(exporter: SpanExporter) -> None:
    # Logger filters apply to the records of that very logger only, so the filter goes
    # on the logger of each module the exporter's code lives in.
    for cls in type(exporter).__mro__:
        if cls.__module__.startswith("opentelemetry.exporter."):
            module_logger = logging.getLogger(cls.__module__)
            if _CAPTURE_FILTER not in module_logger.filters:
                module_logger.addFilter(_CAPTURE_FILTER)


class _ReportingExporter(SpanExporter):
    """Wraps an OTLP exporter: one clear warning when it fails, then fail fast.

    The OTLP exporters retry with backoff and log each retry and each failure: with
    Jaeger down, a warning or two per batch, and a flush at exit that tries every
    batch in turn.  This wrapper turns the first failure into one warning that says
    where, why (the exporter's own last message) and what to do; then, for
    :data:`RETRY_AFTER_S`, drops batches without trying, which keeps the flush at exit
    to about one export timeout.  When the receiver answers again, it says so.
    """

    def __init__(self, exporter: SpanExporter, where: str) -> None:
        self._exporter = exporter
        self._where = where
        self.stats = ExportStats(where)
        self._retry_at = 0.0  # time.monotonic() before which batches are dropped
        self._warned = False
        self._dropped = 0
        _capture_logs_of(exporter)

    def __repr__(self) -> str:
        state = f"failing, {self._dropped} spans dropped" if self._warned else "ok"
        return f"<_ReportingExporter {self._where} {state}>"

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export through the wrapped exporter, unless it failed moments ago."""
        if time.monotonic() < self._retry_at:
            self._dropped += len(spans)
            return SpanExportResult.FAILURE
        records: list[logging.LogRecord] = []
        _capturing.records = records
        error: Exception | None = None
        try:
            result = self._exporter.export(spans)
        except Exception as exc:  # reported below, with its traceback
            result, error = SpanExportResult.FAILURE, exc
        finally:
            _capturing.records = None
        if result is SpanExportResult.SUCCESS:
            self._succeeded(records)
        else:
            self._failed(len(spans), records, error)
        return result

    def _succeeded(self, records: list[logging.LogRecord]) -> None:
        self._retry_at = 0.0
        if self._warned:
            logger.info(
                "spans reach %s again (%d spans were dropped meanwhile)",
                self._where, self._dropped,
            )
            self._warned = False
            self._dropped = 0
        for record in records:  # retries that ended well
            logger.debug("while exporting to %s: %s", self._where, record.getMessage())

    def _failed(
        self, n: int, records: list[logging.LogRecord], error: Exception | None
    ) -> None:
        self._retry_at = time.monotonic() + RETRY_AFTER_S
        self._dropped += n
        serious = [r for r in records if r.levelno >= logging.WARNING]
        if error is not None:
            reason = f"{type(error).__name__}: {error}"
        elif serious:
            # The first message names the cause (the last is often a generic "gave up").
            reason = _RETRYING.sub("", serious[0].getMessage())
        else:
            reason = "the exporter reported a failure"
        self.stats.reason = reason
        if self._warned:
            logger.debug("still cannot export spans to %s: %s", self._where, reason)
            return
        self._warned = True
        logger.warning(
            "cannot export spans to %s (%s). The pipeline runs on; spans are dropped "
            "until it answers (tried again every %.0f s). %s",
            self._where, reason, RETRY_AFTER_S, _JAEGER_HINT,
            exc_info=error,
        )

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush the wrapped exporter."""
        return self._exporter.force_flush(timeout_millis)
