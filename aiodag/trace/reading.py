"""Reading trace files: aiodag's spans out of OTLP JSON or Jaeger's JSON, checked.

Two formats (:data:`FORMATS`):

* OTLP JSON (the protobuf JSON mapping of ``TracesData``): the lines
  ``configure(file=...)`` writes, one document, or Jaeger's ``/api/v3`` answers, which
  wrap it in ``{"result": …}``;
* Jaeger's JSON: the Jaeger UI's "Trace JSON" (``/api/traces/{id}``) and search
  "Download Results" files, ``{"data": [{"traceID", "spans": [...], "processes"}]}``.
  There the attributes are ``tags``, times are microseconds, the parent is the
  ``CHILD_OF`` reference and the links are ``FOLLOWS_FROM`` references, without their
  attributes (Jaeger's model has none).

msgspec decodes each line (or the whole file, when it is one indented document) straight
into the structs of :mod:`aiodag.trace.schema`, which hold only the fields used and check
their JSON types.  Of each span the reader then keeps only what rebuilding a run needs (a
:class:`SpanRecord`); spans that are not aiodag's are dropped after a look at their
attributes.  It checks every value it keeps: a value of the wrong type raises
:class:`TraceFileError` naming the line, the span and the attribute (or msgspec's path to
the value).
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from . import attributes as attr
from .schema import AnyValue, Document, JaegerSpan, JaegerTrace, OtlpSpan, ResourceSpans, decoder

logger = logging.getLogger("aiodag.trace")

__all__ = ["FORMATS", "SpanRecord", "TraceFileError", "collector_paused", "read_spans"]

FORMATS = (
    "OTLP JSON (aiodag.trace's configure(file=...) lines, an OTLP JSON document, Jaeger's "
    "/api/v3 answers) or Jaeger's JSON ({\"data\": [{\"traceID\", \"spans\"}]}: Jaeger UI's "
    "\"Trace JSON\" and search \"Download Results\", /api/traces)"
)
"""The formats read, as error messages name them."""

_MAX_UINT64 = 2**64


class TraceFileError(ValueError):
    """A file that cannot be read as a trace of aiodag runs."""


class _Malformed(Exception):
    """A bad value; turned into a :class:`TraceFileError` that says where it is."""


class SpanRecord:
    """What is kept of one aiodag span (a run's or a task's): small, for 1,000,000s."""

    __slots__ = (
        "attempts",
        "blocks",
        "caller_id",
        "end",
        "error_message",
        "error_type",
        "exogenous",
        "failed",
        "label",
        "limit_wait_s",
        "links",
        "loop_wait_s",
        "makespan",
        "name",
        "parent",
        "ran",
        "released_by",
        "run_name",
        "sid",
        "start",
        "status",
        "task_id",
        "timed_out",
        "trace",
        "wait_s",
    )

    sid: str
    """The span id (hex)."""
    trace: str
    parent: str | None
    name: str
    start: int
    """Nanoseconds since the epoch."""
    end: int
    task_id: int | None
    """``None`` on a run span."""
    label: str | None
    status: str | None
    ran: bool
    """The task's body ran (the span has ``aiodag.task.wait_s``)."""
    wait_s: float | None
    loop_wait_s: float | None
    limit_wait_s: float | None
    released_by: int | None
    blocks: list[tuple[int, float, str]]
    """The ``aiodag.loop_blocked`` events: (when it ended, ns since the epoch; seconds
    the step held the loop; where)."""
    run_name: str | None
    makespan: float | None
    links: list[tuple[str, str | None]]
    """``(span id, aiodag.dependency.kind or None)`` per link."""
    exogenous: frozenset[int] | None
    caller_id: int | None
    attempts: int | None
    timed_out: bool
    failed: bool
    """The span's status is ERROR."""
    error_type: str | None
    error_message: str | None


# -- checked values ------------------------------------------------------------------------

# What each attribute the reader uses must hold; all other attributes are skipped.
_INT, _STR, _DOUBLE, _INT_ARRAY, _PRESENT = range(5)
_WANTED: dict[str, int] = {
    attr.TASK_ID: _INT,
    attr.TASK_LABEL: _STR,
    attr.TASK_STATUS: _STR,
    attr.TASK_WAIT_S: _DOUBLE,
    attr.TASK_LOOP_WAIT_S: _DOUBLE,
    attr.TASK_LIMIT_WAIT_S: _DOUBLE,
    attr.TASK_RELEASED_BY: _INT,
    attr.RUN_NAME: _STR,
    attr.RUN_ID: _PRESENT,
    attr.RUN_MAKESPAN_S: _DOUBLE,
    attr.TASK_EXOGENOUS_UPSTREAM_IDS: _INT_ARRAY,
    attr.TASK_CALLER_ID: _INT,
    attr.TASK_ATTEMPTS: _INT,
    attr.TASK_TIMED_OUT: _PRESENT,
}
_EXPECTED = {_INT: "an integer", _STR: "a string", _DOUBLE: "a number",
             _INT_ARRAY: "an array of integers"}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _text(value: Any, what: str) -> str:
    if type(value) is str:
        return value
    raise _Malformed(f"{what} must be a string, got {_show(value)}")


def _span_id(value: str, what: str) -> str:
    if value:
        return value
    raise _Malformed(f"{what} is empty")


def _uint64(value: int | None, what: str) -> int:
    if value is not None and value < _MAX_UINT64:
        return value
    raise _Malformed(f"{what} must be an unsigned 64-bit integer, got {_show(value)}")


def _otlp_block_value(value: AnyValue | None) -> Any:
    if value is None:
        return None
    if value.doubleValue is not None:
        return value.doubleValue
    if value.intValue is not None:
        return float(value.intValue)
    return value.stringValue


def _block(when: int | None, fields: dict[str, Any]) -> tuple[int, float, str]:
    """One ``aiodag.loop_blocked`` event, checked."""
    blocked: Any = fields.get(attr.BLOCKED_S)
    if when is None or type(blocked) not in (int, float) or not (
        math.isfinite(blocked) and blocked >= 0
    ):
        raise _Malformed(f"an {attr.LOOP_BLOCKED_EVENT} event needs a time and "
                         f"{attr.BLOCKED_S} seconds >= 0, got {_show(blocked)}")
    where = fields.get("code.location")
    return _uint64(when, "an event's time"), float(blocked), where if type(where) is str else ""


def _seconds(found: dict[str, Any], key: str) -> float | None:
    value = found.get(key)
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise _Malformed(f"{key} must be a finite number of seconds >= 0, got {_show(value)}")
    return value


def _int_of(value: Any) -> int | None:
    """An integer given as a number or as text (int64 in JSON), else ``None``."""
    if type(value) is int:
        return value
    if type(value) is str:
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _record(sid: str, trace: str, parent: str | None, name: Any, start: int, end: int,
            found: dict[str, Any], links: list[tuple[str, str | None]], failed: bool,
            error: tuple[Any, Any], status_message: Any,
            blocks: list[tuple[int, float, str]] | None = None) -> SpanRecord:
    """One checked record; ``found`` holds the wanted attributes, decoded."""
    span = SpanRecord()
    span.sid = sid
    span.trace = trace
    span.parent = parent
    span.name = _text(name, "the span's name")
    span.start = start
    span.end = end
    span.task_id = found.get(attr.TASK_ID)
    span.label = found.get(attr.TASK_LABEL)
    span.status = found.get(attr.TASK_STATUS)
    span.ran = attr.TASK_WAIT_S in found
    span.wait_s = _seconds(found, attr.TASK_WAIT_S)
    span.loop_wait_s = _seconds(found, attr.TASK_LOOP_WAIT_S)
    span.limit_wait_s = _seconds(found, attr.TASK_LIMIT_WAIT_S)
    span.released_by = found.get(attr.TASK_RELEASED_BY)
    span.run_name = found.get(attr.RUN_NAME)
    makespan = found.get(attr.RUN_MAKESPAN_S)
    if makespan is not None and not (math.isfinite(makespan) and makespan >= 0):
        raise _Malformed(f"{attr.RUN_MAKESPAN_S} must be a finite number of seconds >= 0, "
                         f"got {_show(makespan)}")
    span.makespan = makespan
    span.links = links
    exogenous = found.get(attr.TASK_EXOGENOUS_UPSTREAM_IDS)
    span.exogenous = None if exogenous is None else frozenset(exogenous)
    span.caller_id = found.get(attr.TASK_CALLER_ID)
    span.attempts = found.get(attr.TASK_ATTEMPTS)
    span.timed_out = attr.TASK_TIMED_OUT in found
    span.failed = failed
    span.blocks = blocks or []
    error_type, error_message = error
    if error_message is None and status_message:
        error_message = status_message
    span.error_type = None if error_type is None else _text(error_type, "exception.type")
    span.error_message = (
        None if error_message is None else _text(error_message, "exception.message")
    )
    return span


# -- OTLP JSON -----------------------------------------------------------------------------


def _otlp_decode(key: str, value: AnyValue | None) -> Any:
    """The value of attribute ``key``, of the type aiodag writes there."""
    kind = _WANTED[key]
    if kind == _PRESENT:
        return True
    if value is not None:
        if kind == _STR:
            if value.stringValue is not None:
                return value.stringValue
        elif kind == _INT:
            if value.intValue is not None:
                return value.intValue
        elif kind == _DOUBLE:
            if value.doubleValue is not None:
                return value.doubleValue
            if value.intValue is not None:
                return float(value.intValue)
        elif value.arrayValue is not None:
            numbers = [v.intValue for v in value.arrayValue.values or ()]
            if None not in numbers:
                return numbers
    raise _Malformed(f"{key} must be {_EXPECTED[kind]}, got {_show_value(value)}")


def _show_value(value: AnyValue | None) -> str:
    if value is None:
        return "no value"
    return _show({f: v for f in value.__struct_fields__ if (v := getattr(value, f)) is not None})


_EXCEPTION_KEYS = frozenset({"exception.type", "exception.message"})


def _otlp_span(span: OtlpSpan) -> SpanRecord | None:
    found: dict[str, Any] = {}
    for kv in span.attributes or ():
        if kv.key in _WANTED:
            found[kv.key] = kv.value
    if attr.TASK_ID not in found and attr.RUN_ID not in found:
        return None  # not aiodag's: an instrumented library's span, say
    for key, value in found.items():
        found[key] = _otlp_decode(key, value)
    links: list[tuple[str, str | None]] = []
    for link in span.links or ():
        kind = None
        for kv in link.attributes or ():
            if kv.key == attr.DEPENDENCY_KIND and kv.value is not None:
                kind = kv.value.stringValue
        links.append((_span_id(link.spanId, "a link's spanId"), kind))
    status = span.status
    failed = status is not None and status.code in (2, "STATUS_CODE_ERROR")
    blocks = [
        _block(event.timeUnixNano, {kv.key: _otlp_block_value(kv.value)
                                    for kv in event.attributes or ()})
        for event in span.events or () if event.name == attr.LOOP_BLOCKED_EVENT
    ]
    error: tuple[str | None, str | None] = (None, None)
    if failed:
        for event in span.events or ():
            if event.name == "exception":
                fields = {kv.key: kv.value.stringValue for kv in event.attributes or ()
                          if kv.key in _EXCEPTION_KEYS and kv.value is not None}
                error = (fields.get("exception.type"), fields.get("exception.message"))
                break
    return _record(
        sid=_span_id(span.spanId, "spanId"),
        trace=span.traceId,
        parent=_span_id(span.parentSpanId, "parentSpanId") if span.parentSpanId else None,
        name=span.name,
        start=_uint64(span.startTimeUnixNano, "startTimeUnixNano"),
        end=_uint64(span.endTimeUnixNano, "endTimeUnixNano"),
        found=found, links=links, failed=failed, error=error,
        status_message=status.message if status is not None else None, blocks=blocks,
    )


def _otlp_spans(resources: list[ResourceSpans]) -> Iterator[SpanRecord | None]:
    for resource in resources:
        for scope in resource.scopeSpans or ():
            for span in scope.spans or ():
                try:
                    record = _otlp_span(span)
                except _Malformed as exc:
                    raise _named(exc, span.name, span.spanId) from None
                yield record


def _named(error: _Malformed, name: str, sid: str) -> _Malformed:
    """``error``, saying which span it is about."""
    return _Malformed(f"span {name!r} (id {sid!r}): {error}")


# -- Jaeger's JSON -------------------------------------------------------------------------


def _jaeger_decode(key: str, value: Any) -> Any:
    """The value of tag ``key``, of the type aiodag writes there (Jaeger writes array
    attributes as JSON text)."""
    kind = _WANTED[key]
    if kind == _PRESENT:
        return True
    if kind == _STR:
        if type(value) is str:
            return value
    elif kind == _INT:
        number = _int_of(value)
        if number is not None:
            return number
    elif kind == _DOUBLE:
        if type(value) is int or type(value) is float:
            return float(value)
    else:
        items = value
        if type(value) is str:
            try:
                items = json.loads(value)
            except (ValueError, RecursionError):
                items = None
        if type(items) is list and all(type(item) is int for item in items):
            return items
    raise _Malformed(f"{key} must be {_EXPECTED[kind]}, got {_show(value)}")


_JAEGER_STATUS = frozenset({"otel.status_code", "otel.status_description", "error"})
_JAEGER_EVENT = frozenset({"event", "exception.type", "exception.message"})


def _jaeger_span(span: JaegerSpan) -> SpanRecord | None:
    found: dict[str, Any] = {}
    status: dict[str, Any] = {}
    for tag in span.tags or ():
        if tag.key in _WANTED:
            found[tag.key] = tag.value
        elif tag.key in _JAEGER_STATUS:
            status[tag.key] = tag.value
    if attr.TASK_ID not in found and attr.RUN_ID not in found:
        return None
    for key, value in found.items():
        found[key] = _jaeger_decode(key, value)
    start_us = _uint64(span.startTime, "startTime")
    duration_us = _uint64(span.duration, "duration")
    parent = _span_id(span.parentSpanID, "parentSpanID") if span.parentSpanID else None
    links: list[tuple[str, str | None]] = []
    for ref in span.references or ():
        ref_id = _span_id(ref.spanID, "a reference's spanID")
        if ref.refType == "CHILD_OF":
            if parent is None:
                parent = ref_id
        elif ref.refType == "FOLLOWS_FROM":
            links.append((ref_id, None))  # Jaeger keeps no link attributes
        else:
            raise _Malformed(f"refType must be 'CHILD_OF' or 'FOLLOWS_FROM', "
                             f"got {_show(ref.refType)}")
    failed = status.get("otel.status_code") == "ERROR" or status.get("error") is True
    blocks = []
    for log in span.logs or ():
        fields = {f.key: f.value for f in log.fields or ()}
        if fields.get("event") == attr.LOOP_BLOCKED_EVENT:
            when = None if log.timestamp is None else log.timestamp * 1000  # µs
            blocks.append(_block(when, fields))
    error: tuple[Any, Any] = (None, None)
    if failed:
        for log in span.logs or ():
            fields = {f.key: f.value for f in log.fields or () if f.key in _JAEGER_EVENT}
            if fields.get("event") == "exception":
                error = (fields.get("exception.type"), fields.get("exception.message"))
                break
    return _record(
        sid=_span_id(span.spanID, "spanID"),
        trace=span.traceID,
        parent=parent,
        name=span.operationName,
        start=start_us * 1000,
        end=(start_us + duration_us) * 1000,
        found=found, links=links, failed=failed, error=error,
        status_message=status.get("otel.status_description"), blocks=blocks,
    )


def _jaeger_spans(traces: list[JaegerTrace]) -> Iterator[SpanRecord | None]:
    for trace in traces:
        for span in trace.spans or ():
            try:
                record = _jaeger_span(span)
            except _Malformed as exc:
                raise _named(exc, span.operationName, span.spanID) from None
            yield record


# -- files ---------------------------------------------------------------------------------

_NOT_A_TRACE = (
    "it is neither OTLP JSON (no 'resourceSpans') nor Jaeger's JSON (no 'data' list of "
    f"traces); aiodag render reads {FORMATS}"
)


def _documents(path: Path) -> Iterator[tuple[str, Document | list[Document]]]:
    """``(where, document)`` for each JSON document: one per line, or the whole file.

    Line by line, so that a file of JSON lines is never in memory all at once.
    """
    try:
        file = path.open("rb")
    except FileNotFoundError:
        raise TraceFileError(f"no such file: {str(path)!r}") from None
    except OSError as exc:
        raise TraceFileError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    with file:
        try:
            yielded = False
            for number, line in enumerate(file, 1):
                if not line.strip():
                    continue
                where = f"line {number}"
                try:
                    document = _decode(line)
                except _Undecodable as exc:
                    if (yielded and exc.not_json and not line.endswith(b"\n")
                            and not file.read().strip()):
                        # The last line, cut short (a writer killed mid-line, before its
                        # newline): the lines before it are whole, the record of the run.
                        logger.warning("%s %s: not JSON (cut short?), skipped; the %d "
                                       "line(s) before it are read", str(path), where,
                                       number - 1)
                        return
                    if yielded or not exc.not_json:
                        raise TraceFileError(f"{str(path)!r} {where}: {exc}") from None
                    break  # not JSON lines: perhaps one pretty-printed document
                yield where, document
                yielded = True
            else:
                return
            file.seek(0)
            text = file.read()
        except OSError as exc:
            raise TraceFileError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    try:
        document = _decode(text)
    except _Undecodable as exc:
        raise TraceFileError(f"{str(path)!r}: {exc}") from None
    yield "the document", document


_IN_A_TOP_LIST = re.compile(r" - at `\$\[\d+\]`$")


class _Undecodable(Exception):
    """A document that is not JSON (``not_json``), or JSON not shaped like a trace."""

    def __init__(self, message: str, *, not_json: bool) -> None:
        super().__init__(message)
        self.not_json = not_json


def _decode(data: bytes) -> Document | list[Document]:
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:  # JSON, but not of a trace's shape
        text = str(exc)
        if " - at `" not in text or _IN_A_TOP_LIST.search(text):
            text = _NOT_A_TRACE  # the document itself is of another shape
        raise _Undecodable(text, not_json=False) from None
    except msgspec.DecodeError as exc:
        raise _Undecodable(f"not JSON ({exc}); aiodag render reads {FORMATS}",
                           not_json=True) from None
    except UnicodeDecodeError as exc:
        raise _Undecodable(f"not UTF-8 text: {exc.reason} at byte {exc.start}",
                           not_json=True) from None
    except RecursionError:
        raise _Undecodable("JSON nested too deeply", not_json=False) from None


def _spans_of(document: Document | list[Document]) -> Iterator[SpanRecord | None]:
    """The spans of one document, in whichever of the formats it is."""
    if isinstance(document, list):  # OTLP documents, or Jaeger's traces
        return itertools.chain.from_iterable(_spans_of(item) for item in document)
    if document.resourceSpans is not None:
        return _otlp_spans(document.resourceSpans)
    if document.result is not None:  # Jaeger's /api/v3 answers wrap OTLP JSON
        return _otlp_spans(document.result.resourceSpans or [])
    if document.data is not None:
        data = document.data
        return _jaeger_spans(data if isinstance(data, list) else [data])
    if document.spans is not None and document.traceID is not None:
        return _jaeger_spans([JaegerTrace(document.traceID, document.spans)])
    raise _Malformed(_NOT_A_TRACE)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a trace is read (reentrant)."""
    # Parsing allocates millions of containers while the records pile up: the cyclic
    # collector would walk them all again and again (measured: 40 % of the time of a
    # 100,000-task trace). Nothing here makes reference cycles; reference counting frees
    # each parsed document as soon as it is read.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_spans(path: Path) -> tuple[dict[str, SpanRecord], int]:
    """Every aiodag span in the file by span id (a span written twice counts once), and
    how many spans the file holds in all."""
    spans: dict[str, SpanRecord] = {}
    total = 0
    with collector_paused():
        for where, document in _documents(path):
            try:
                for span in _spans_of(document):
                    total += 1
                    if span is not None:
                        spans[span.sid] = span
            except _Malformed as exc:
                raise TraceFileError(f"{str(path)!r} {where}: {exc}") from None
    return spans, total
