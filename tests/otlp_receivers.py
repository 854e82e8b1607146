"""Real OTLP receivers for the tests: oteltest's gRPC and HTTP sinks on free local ports.

oteltest decodes real OTLP export requests; :class:`Received` keeps them and flattens
their spans for assertions.  The fixtures ``grpc_receiver`` and ``http_receiver`` (in
conftest.py) start one for a test and stop it afterwards.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from oteltest.sink import GrpcSink, HttpSink
from oteltest.sink.handler import RequestHandler


class Received(RequestHandler):
    """Keeps the trace export requests a receiver decoded."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.headers: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def handle_trace(self, request: ExportTraceServiceRequest, headers: Any) -> None:
        with self._lock:
            self.requests.append(request)
            self.headers.append(dict(headers))

    def handle_metrics(self, request: Any, headers: Any) -> None:
        raise AssertionError("aiodag exports no metrics")

    def handle_logs(self, request: Any, headers: Any) -> None:
        raise AssertionError("aiodag exports no logs")

    def spans(self) -> list[dict[str, Any]]:
        """Every span received, flattened, with its resource's service name."""
        found = []
        with self._lock:
            for request in self.requests:
                for resource_spans in request.resource_spans:
                    service = _value(resource_spans.resource.attributes, "service.name")
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            found.append({
                                "service": service,
                                "scope": scope_spans.scope.name,
                                "name": span.name,
                                "span_id": span.span_id,
                                "parent": span.parent_span_id,
                                "trace_id": span.trace_id,
                                "attributes": _attributes(span.attributes),
                                "links": [
                                    (link.span_id, _attributes(link.attributes))
                                    for link in span.links
                                ],
                                "status": span.status.code,
                            })
        return found


def _value(attributes: Any, key: str) -> object:
    return _attributes(attributes).get(key)


def _attributes(attributes: Any) -> dict[str, object]:
    found: dict[str, object] = {}
    kv: KeyValue
    for kv in attributes:
        kind = kv.value.WhichOneof("value")
        if kind == "array_value":
            found[kv.key] = [getattr(v, v.WhichOneof("value")) for v in kv.value.array_value.values]
        else:
            found[kv.key] = getattr(kv.value, kind) if kind else None
    return found


def free_port() -> int:
    """A TCP port nothing listens on (the kernel's choice of an ephemeral one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def grpc_receiver_running() -> Iterator[tuple[Received, int]]:
    """A gRPC OTLP receiver on a free port, running until the generator is closed."""
    received, port = Received(), free_port()
    sink = GrpcSink(received, logging.getLogger("oteltest"), port=port)
    sink.start()
    yield received, port
    sink.stop()


def http_receiver_running() -> Iterator[tuple[Received, int]]:
    """An HTTP OTLP receiver on a free port, running until the generator is closed."""
    received, port = Received(), free_port()
    sink = HttpSink(received, logging.getLogger("oteltest"), port=port)
    sink.start()
    deadline = time.monotonic() + 10
    while sink.httpd is None:  # its thread creates the server: stop() needs it
        assert time.monotonic() < deadline, "oteltest's HTTP sink did not start"
        time.sleep(0.01)
    yield received, port
    sink.stop()
