"""The two trace file formats aiodag reads, as msgspec structs: only the fields it uses.

msgspec decodes a JSON document straight into these, in C: fields not declared here
are skipped without being built, and a declared field of the wrong JSON type is a
``msgspec.ValidationError`` naming its path (``$.resourceSpans[0]…spans[3].spanId``).
``null`` is accepted wherever the formats' writers may leave a field empty.

* OTLP JSON: the protobuf JSON mapping of ``opentelemetry.proto.trace.v1.TracesData``
  (lowerCamelCase names, hex ids, 64-bit integers as strings or numbers, which the
  decoder turns into numbers: it runs with ``strict=False``).
* Jaeger's JSON (``model/json`` in Jaeger, what its UI and ``/api/traces`` serve):
  ``{"data": [{"traceID", "spans": [{"spanID", "operationName", "references",
  "startTime", "duration", "tags", "logs"}], "processes"}]}``, times in microseconds,
  tags ``{"key", "type", "value"}``, references ``{"refType", "traceID", "spanID"}``.

One struct, :class:`Document`, takes any of the object shapes: OTLP
(``resourceSpans``), OTLP wrapped by Jaeger's ``/api/v3`` (``result``), Jaeger's
``data`` (a list of traces, or one), or one bare Jaeger trace (``traceID`` and
``spans``); and a list of such objects (OTLP documents or Jaeger's traces), as the
Jaeger UI's upload reads too.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

__all__ = ["Document", "JaegerSpan", "OtlpSpan", "decoder"]


class _Struct(msgspec.Struct, gc=False):
    """Base: not tracked by the cyclic garbage collector (these hold no cycles)."""


# -- OTLP JSON -----------------------------------------------------------------------------


# Decoded with strict=False: 64-bit integers come as strings of digits in OTLP JSON, and
# doubles may be "NaN", "Infinity" or "-Infinity".
_Unsigned = Annotated[int, msgspec.Meta(ge=0)]


class AnyValue(_Struct):
    stringValue: str | None = None
    intValue: int | None = None
    doubleValue: float | None = None
    boolValue: bool | None = None
    arrayValue: ArrayValue | None = None


class ArrayValue(_Struct):
    values: list[AnyValue] | None = None


class KeyValue(_Struct):
    key: str = ""
    value: AnyValue | None = None


class OtlpLink(_Struct):
    spanId: str = ""
    attributes: list[KeyValue] | None = None


class OtlpEvent(_Struct):
    name: str = ""
    timeUnixNano: _Unsigned | None = None
    attributes: list[KeyValue] | None = None


class OtlpStatus(_Struct):
    code: int | str | None = None
    message: str | None = None


class OtlpSpan(_Struct):
    traceId: str = ""
    spanId: str = ""
    parentSpanId: str | None = None
    name: str = ""
    startTimeUnixNano: _Unsigned | None = None
    endTimeUnixNano: _Unsigned | None = None
    attributes: list[KeyValue] | None = None
    links: list[OtlpLink] | None = None
    events: list[OtlpEvent] | None = None
    status: OtlpStatus | None = None


class ScopeSpans(_Struct):
    spans: list[OtlpSpan] | None = None


class ResourceSpans(_Struct):
    scopeSpans: list[ScopeSpans] | None = None


class OtlpTraces(_Struct):
    resourceSpans: list[ResourceSpans] | None = None


# -- Jaeger's JSON -------------------------------------------------------------------------


class JaegerKeyValue(_Struct):
    key: str = ""
    type: str = ""
    value: Any = None


class JaegerReference(_Struct):
    refType: str = ""
    traceID: str = ""
    spanID: str = ""


class JaegerLog(_Struct):
    timestamp: _Unsigned | None = None
    fields: list[JaegerKeyValue] | None = None


class JaegerSpan(_Struct):
    traceID: str = ""
    spanID: str = ""
    parentSpanID: str | None = None  # deprecated: the CHILD_OF reference is the parent
    operationName: str = ""
    references: list[JaegerReference] | None = None
    startTime: _Unsigned | None = None
    duration: _Unsigned | None = None
    tags: list[JaegerKeyValue] | None = None
    logs: list[JaegerLog] | None = None


class JaegerTrace(_Struct):
    traceID: str = ""
    spans: list[JaegerSpan] | None = None


# -- any document --------------------------------------------------------------------------


class Document(_Struct):
    """Whichever of the object shapes a document has; its unknown keys are ignored."""

    resourceSpans: list[ResourceSpans] | None = None
    result: OtlpTraces | None = None
    data: list[JaegerTrace] | JaegerTrace | None = None
    traceID: str | None = None
    spans: list[JaegerSpan] | None = None


decoder: msgspec.json.Decoder[Document | list[Document]] = msgspec.json.Decoder(
    Document | list[Document], strict=False
)
"""Decodes one JSON document (bytes): a :class:`Document`, or a list of them (of OTLP
documents, or of Jaeger's traces), as the Jaeger UI's upload also reads."""
