"""Reading stored traces back (aiodag.trace.stored): OTLP JSON and Jaeger's JSON, and bad input.

The traces are written by the real sink through the real SDK and the official OTLP JSON
file exporter; Jaeger's JSON is built from them by the mapping Jaeger documents
(OpenTelemetry's "OpenTelemetry to Jaeger Transformation", which Jaeger's collector
implements): tags from attributes (arrays as JSON text), the parent as the first
``CHILD_OF`` reference, links as ``FOLLOWS_FROM`` references without their attributes,
status as ``otel.status_code``/``otel.status_description``/``error`` tags, events as logs
with an ``event`` field, times in microseconds.
"""

from __future__ import annotations

import asyncio
import copy
import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import aiodag.viz
from aiodag import Run, TaskStatus, task
from aiodag.analysis import critical_path
from aiodag.trace import OpenTelemetrySink, configure
from aiodag.trace import attributes as attr
from aiodag.trace.stored import StoredRun, TraceFileError, load_run, read_runs


class DiskFull(Exception):
    pass


@task
async def load(key: int) -> int:
    await asyncio.sleep(0.002 * key)
    return key


@task
async def gate() -> None:
    await asyncio.sleep(0.001)


@task
async def merge(*parts: int) -> int:
    return sum(parts)


@task
async def broken() -> int:
    raise DiskFull("disk full")


async def _pipeline() -> None:
    a, b = load(1), load(2)
    task(merge, gate())(a, b)
    merge(broken(), a)


def write_trace(path: Path, name: str = "small") -> Run:
    """Run the small pipeline traced into ``path`` by the real sink and exporter."""
    provider = configure("tests", file=path, install=False)

    async def main() -> Run:
        async with Run(name, sinks=[OpenTelemetrySink(provider)], raise_errors=False) as run:
            await _pipeline()
        return run

    run = asyncio.run(main())
    provider.shutdown()
    return run


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    path = tmp_path_factory.mktemp("traced") / "trace.jsonl"
    return path, write_trace(path)


def otlp_spans(path: Path) -> list[dict[str, Any]]:
    return [
        span
        for line in path.read_text().splitlines()
        for resource in json.loads(line)["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]


def same_dag(stored: StoredRun, run: Run) -> None:
    assert [(t.id, t.name, t.label, t.status) for t in stored.tasks] == [
        (t.id, t.name, t.label, t.status) for t in run.tasks
    ]
    assert {t.id: sorted(t.deps) for t in stored.tasks} == {
        t.id: sorted((up, str(kind)) for up, kind in t.deps) for t in run.tasks
    }
    assert [t.id for t in stored.critical_path()] == [t.id for t in run.critical_path()]


def test_an_otlp_trace_reads_back_as_the_run(traced: tuple[Path, Run]) -> None:
    path, run = traced
    stored = load_run(path)
    assert stored.name == "small"
    same_dag(stored, run)
    failed = next(t for t in stored.tasks if t.status is TaskStatus.FAILED)
    assert failed.error_type == "DiskFull"  # as a live run shows it, not "module.DiskFull"
    assert failed.error_message == "disk full"
    assert stored.makespan == pytest.approx(run.makespan)


@pytest.mark.parametrize("shape", ["document", "list", "jaeger-v3"])
def test_the_other_otlp_shapes_read_the_same(traced: tuple[Path, Run], tmp_path: Path,
                                             shape: str) -> None:
    """One (indented) document; a list of documents (Jaeger UI's upload reads that too);
    Jaeger's /api/v3 answer {"result": …}."""
    path, run = traced
    documents = [json.loads(line) for line in path.read_text().splitlines()]
    merged = {"resourceSpans": [rs for d in documents for rs in d["resourceSpans"]]}
    content = {"document": merged, "list": documents, "jaeger-v3": {"result": merged}}[shape]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(content, indent=2))
    same_dag(load_run(other), run)


# -- Jaeger's JSON, built by the documented mapping --------------------------------------


def _jaeger_value(value: dict[str, Any]) -> tuple[str, Any]:
    (kind, item), = value.items()
    if kind == "stringValue":
        return "string", item
    if kind == "intValue":
        return "int64", int(item)
    if kind == "doubleValue":
        return "float64", float(item)
    if kind == "boolValue":
        return "bool", item
    assert kind == "arrayValue"  # "Array values MUST be serialized to string like a JSON list"
    values = [_jaeger_value(v)[1] for v in item.get("values", [])]
    return "string", json.dumps(values, separators=(",", ":"))


def _jaeger_tags(attributes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tags = []
    for kv in attributes:
        kind, value = _jaeger_value(kv["value"])
        tags.append({"key": kv["key"], "type": kind, "value": value})
    return tags


def to_jaeger(spans: list[dict[str, Any]]) -> dict[str, Any]:
    """Jaeger's JSON of one trace: {"data": [{"traceID", "spans", "processes"}], ...}."""
    out = []
    for span in spans:
        references = []
        if span.get("parentSpanId"):
            references.append({"refType": "CHILD_OF", "traceID": span["traceId"],
                               "spanID": span["parentSpanId"]})
        references += [{"refType": "FOLLOWS_FROM", "traceID": link["traceId"],
                        "spanID": link["spanId"]} for link in span.get("links", [])]
        tags = _jaeger_tags(span.get("attributes", []))
        tags.append({"key": "otel.scope.name", "type": "string", "value": "aiodag"})
        status = span.get("status", {})
        if status.get("code") == 2:
            tags.append({"key": "otel.status_code", "type": "string", "value": "ERROR"})
            tags.append({"key": "error", "type": "bool", "value": True})
            if status.get("message"):
                tags.append({"key": "otel.status_description", "type": "string",
                             "value": status["message"]})
        start = int(span["startTimeUnixNano"])
        out.append({
            "traceID": span["traceId"],
            "spanID": span["spanId"],
            "operationName": span["name"],
            "references": references,
            "startTime": start // 1000,
            "duration": (int(span["endTimeUnixNano"]) - start) // 1000,
            "tags": tags,
            "logs": [
                {"timestamp": int(event["timeUnixNano"]) // 1000,
                 "fields": [{"key": "event", "type": "string", "value": event["name"]},
                            *_jaeger_tags(event.get("attributes", []))]}
                for event in span.get("events", [])
            ],
            "processID": "p1",
            "warnings": None,
        })
    process = {"serviceName": "tests", "tags": [
        {"key": "telemetry.sdk.language", "type": "string", "value": "python"}]}
    trace_id = spans[0]["traceId"]
    trace = {"traceID": trace_id, "spans": out, "processes": {"p1": process}, "warnings": None}
    return {"data": [trace], "total": 0, "limit": 0, "offset": 0, "errors": None}


def test_jaegers_trace_json_reads_back_as_the_run(traced: tuple[Path, Run],
                                                  tmp_path: Path) -> None:
    path, run = traced
    document = to_jaeger(otlp_spans(path))
    jaeger = tmp_path / "trace.json"
    jaeger.write_text(json.dumps(document, indent=2))  # the UI's "Trace JSON" is indented
    stored = load_run(jaeger)
    assert stored.name == "small"
    # Without link attributes every dependency reads as data unless the task span says
    # which upstreams are exogenous (aiodag.task.exogenous_upstream_ids).
    exogenous = {t.id for t in stored.tasks for _up, kind in t.deps if kind == "exogenous"}
    writes_ids = any(
        kv["key"] == attr.TASK_EXOGENOUS_UPSTREAM_IDS
        for span in otlp_spans(path) for kv in span.get("attributes", [])
    )
    if writes_ids:
        same_dag(stored, run)
    else:  # the sink of this branch does not write the ids yet: kinds read as data
        assert not exogenous
        assert {t.id: sorted(up for up, _ in t.deps) for t in stored.tasks} == {
            t.id: sorted(up for up, _ in t.deps) for t in run.tasks
        }
    failed = next(t for t in stored.tasks if t.status is TaskStatus.FAILED)
    assert failed.error_type == "DiskFull"  # as a live run shows it, not "module.DiskFull"
    assert failed.error_message == "disk full"
    # Jaeger keeps microseconds: the times agree to within one.
    for mine, theirs in zip(stored.tasks, run.tasks, strict=True):
        assert mine.finished == pytest.approx(theirs.finished, abs=2e-6)


def test_jaegers_download_results_with_several_traces(tmp_path: Path) -> None:
    """Search's "Download Results": {"data": [trace, trace]}, one line; --run picks one."""
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_trace(first, "first")
    write_trace(second, "second")
    traces = [to_jaeger(otlp_spans(p))["data"][0] for p in (first, second)]
    download = tmp_path / "traces-1700000000000.json"
    download.write_text(json.dumps({"data": traces}, separators=(",", ":")))
    runs = read_runs(download)
    assert [r.name for r in runs] == ["first", "second"]
    assert len(load_run(download, "first").tasks) == 6
    # The other shapes the Jaeger UI's "Upload" takes: a bare list, one trace in "data",
    # one bare trace.
    for shape in (traces, {"data": traces[1]}, traces[1]):
        other = tmp_path / "other.json"
        other.write_text(json.dumps(shape))
        assert [r.name for r in read_runs(other)][-1] == "second"


def _span(sid: int, task_id: int | None, *, links: tuple[int, ...] = (), start: int = 0,
          end: int = 0, extra: list[dict[str, Any]] | None = None,
          parent: int | None = 1) -> dict[str, Any]:
    attributes = [] if task_id is None else [
        {"key": attr.TASK_ID, "value": {"intValue": str(task_id)}},
        {"key": attr.TASK_LABEL, "value": {"stringValue": f"t{task_id}()"}},
        {"key": attr.TASK_STATUS, "value": {"stringValue": "ok"}},
        {"key": attr.TASK_WAIT_S, "value": {"doubleValue": 0.0}},
    ]
    if task_id is None:
        attributes = [{"key": attr.RUN_ID, "value": {"intValue": "1"}},
                      {"key": attr.RUN_NAME, "value": {"stringValue": "hand-made"}}]
    span: dict[str, Any] = {
        "traceId": "0" * 31 + "1", "spanId": f"{sid:016x}", "name": f"t{task_id}",
        "startTimeUnixNano": str(10**18 + start), "endTimeUnixNano": str(10**18 + end),
        "attributes": attributes + (extra or []),
        "links": [{"traceId": "0" * 31 + "1", "spanId": f"{up:016x}"} for up in links],
    }
    if parent is not None and task_id is not None:
        span["parentSpanId"] = f"{parent:016x}"
    return span


def otlp_file(path: Path, spans: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}) + "\n")
    return path


def test_exogenous_ids_and_caller_id_read_back_from_otlp_and_jaeger(tmp_path: Path) -> None:
    """Jaeger drops link attributes: the task span's exogenous ids tell the kinds."""
    extra = [
        {"key": attr.TASK_EXOGENOUS_UPSTREAM_IDS,
         "value": {"arrayValue": {"values": [{"intValue": "3"}]}}},
        {"key": attr.TASK_CALLER_ID, "value": {"intValue": "2"}},
    ]
    spans = [_span(1, None, end=9), _span(2, 2, end=1), _span(3, 3, end=2),
             _span(4, 4, links=(2, 3), start=3, end=4, extra=extra)]
    for path in (otlp_file(tmp_path / "t.jsonl", spans),):
        jaeger = tmp_path / "t.json"
        jaeger.write_text(json.dumps(to_jaeger(spans)))
        for source in (path, jaeger):
            run = load_run(source)
            last = run.task(4)
            assert sorted(last.deps) == [(2, "data"), (3, "exogenous")], source
            assert last.caller_id == 2
            assert run.task(2).caller_id is None


# -- bad input -------------------------------------------------------------------------------


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail, rather than hang, if the block takes longer (a hang is the bug tested)."""
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"did not finish in {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Record:
    id: int
    deps: tuple[tuple[int, str], ...]
    started: float | None
    finished: float | None


def test_critical_path_stops_at_a_cycle() -> None:
    """Records from elsewhere may have cycles; the search ends instead of looping."""
    selfish = {1: Record(1, ((1, "data"),), 0.0, 0.0)}
    pair = {1: Record(1, ((2, "data"),), 1.0, 1.0), 2: Record(2, ((1, "data"),), 1.0, 1.0)}
    with time_limit(5):
        assert [r.id for r in critical_path(selfish)] == [1]
        assert sorted(r.id for r in critical_path(pair)) == [1, 2]


CYCLES = {
    "self-link": {2: (2,)},  # a span linking to itself
    "two-cycle": {2: (3,), 3: (2,)},  # two spans linking to each other, times tied
}


def cycle_file(path: Path, links: dict[int, tuple[int, ...]]) -> Path:
    """A run span and task spans 2 and 3, all at one moment, linked as ``links`` says."""
    return otlp_file(path, [_span(1, None, end=5)] + [
        _span(sid, sid, links=links.get(sid, ()), start=1, end=1) for sid in (2, 3)
    ])


@pytest.mark.parametrize("cycle", CYCLES)
def test_a_dependency_cycle_is_reported_not_looped_on(tmp_path: Path, cycle: str) -> None:
    path = cycle_file(tmp_path / "cycle.jsonl", CYCLES[cycle])
    with time_limit(10), pytest.raises(TraceFileError, match="form a cycle: t2"):
        run = load_run(path)
        aiodag.viz.to_graphviz(run)  # the old reader got here, and looped for ever


def _bad(spans: list[dict[str, Any]], key: str, value: dict[str, Any]) -> list[dict[str, Any]]:
    spans = copy.deepcopy(spans)
    spans[1]["attributes"].append({"key": key, "value": value})
    return spans


GOOD = [_span(1, None, end=5), _span(2, 2, end=1), _span(3, 3, links=(2,), start=1, end=2)]


@pytest.mark.parametrize(
    ("spans", "message"),
    [
        (_bad(GOOD, attr.TASK_ID, {"stringValue": "two"}),
         "aiodag.task.id must be an integer, got {'stringValue': 'two'}"),
        (_bad(GOOD, attr.TASK_ID, {"doubleValue": 2.5}), "aiodag.task.id must be an integer"),
        (_bad(GOOD, attr.TASK_ID, {"intValue": "0x2"}),
         "Expected `int | null`, got `str` - at `$.resourceSpans[0].scopeSpans[0].spans[1]"
         ".attributes[4].value.intValue`"),
        (_bad(GOOD, attr.TASK_LABEL, {"intValue": "7"}), "aiodag.task.label must be a string"),
        (_bad(GOOD, attr.TASK_CALLER_ID, {"boolValue": True}),
         "aiodag.task.caller_id must be an integer"),
        (_bad(GOOD, attr.TASK_EXOGENOUS_UPSTREAM_IDS, {"stringValue": "[3]"}),
         "aiodag.task.exogenous_upstream_ids must be an array of integers"),
        ([{**GOOD[0], "attributes": [*GOOD[0]["attributes"], {
            "key": attr.RUN_MAKESPAN_S, "value": {"doubleValue": "Infinity"}}]}, *GOOD[1:]],
         "aiodag.run.makespan_s must be a finite number of seconds >= 0, got inf"),
        ([{**GOOD[0], "attributes": [*GOOD[0]["attributes"], {
            "key": attr.RUN_MAKESPAN_S, "value": {"doubleValue": [1.0]}}]}, *GOOD[1:]],
         "Expected `float | null`, got `array` - at `$.resourceSpans[0].scopeSpans[0]"),
        ([{**GOOD[0], "attributes": [*GOOD[0]["attributes"], {
            "key": attr.RUN_MAKESPAN_S, "value": {"doubleValue": -1.0}}]}, *GOOD[1:]],
         "must be a finite number of seconds >= 0, got -1.0"),
        ([GOOD[0], {**GOOD[1], "spanId": ""}, GOOD[2]], "span 't2' (id ''): spanId is empty"),
        ([GOOD[0], {**GOOD[1], "startTimeUnixNano": "-5"}, GOOD[2]],
         "Expected `int` >= 0 - at `$.resourceSpans[0].scopeSpans[0].spans[1].startTime"),
        ([GOOD[0], {**GOOD[1], "endTimeUnixNano": str(2**70)}, GOOD[2]],
         "span 't2' (id '0000000000000002'): endTimeUnixNano must be an unsigned 64-bit "
         "integer, got 1180591620717411303424"),
        ([GOOD[0], {**GOOD[1], "links": {"spanId": "2"}}, GOOD[2]],
         "Expected `array | null`, got `object`"),
        ([GOOD[0], GOOD[1], {**GOOD[1], "spanId": f"{9:016x}"}],
         "run 'hand-made' has two task spans with id 2"),
    ],
)
def test_a_malformed_value_is_named_with_its_place(
    tmp_path: Path, spans: list[dict[str, Any]], message: str
) -> None:
    path = otlp_file(tmp_path / "bad.jsonl", spans)
    with pytest.raises(TraceFileError) as caught:
        read_runs(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{str(path)!r}")


def test_the_good_spans_of_those_tests_do_read(tmp_path: Path) -> None:
    """The malformed cases differ from a good file by the one value they name."""
    run = load_run(otlp_file(tmp_path / "good.jsonl", GOOD))
    assert [(t.id, t.deps) for t in run.tasks] == [(2, ()), (3, ((2, "data"),))]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "neither OTLP JSON"),
        ('{"data": [{"traceID": "1", "spans": [{"tags": [{"key": "aiodag.task.id", '
         '"value": ' + "[" * 100_000 + "]" * 100_000 + "}]}]}]}", "nested too deeply"),
        ('{"resourceSpans": [', "not JSON (Input data was truncated)"),
        ("\xff\xfe garbage", "not JSON"),
        ('{"traces": []}', "neither OTLP JSON (no 'resourceSpans') nor Jaeger's JSON"),
        ('{"resourceSpans": []}\n{"resourceSpans": [}\n', "line 2: not JSON"),
    ],
    ids=["deep-array", "deep-tag", "truncated", "not-utf8", "other-json", "bad-second-line"],
)
def test_a_file_that_is_not_a_trace_says_what_is_read(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "file.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape") if "\xff" not in text
                     else text.encode("latin-1"))
    with pytest.raises(TraceFileError) as caught:
        read_runs(path)
    assert message in str(caught.value)
    if "neither" in message or "not JSON" in message:
        assert "Jaeger UI's \"Trace JSON\"" in str(caught.value)


def test_a_span_without_a_status_attribute_is_a_task_that_ended(tmp_path: Path) -> None:
    """Spans are written when they end: no aiodag.task.status reads as ok, or as failed
    when the span's own status is ERROR (with its description as the message)."""
    spans = copy.deepcopy(GOOD)
    for span in spans[1:]:
        span["attributes"] = [a for a in span["attributes"] if a["key"] != attr.TASK_STATUS]
    spans[2]["status"] = {"code": 2, "message": "Boom: it broke"}
    run = load_run(otlp_file(tmp_path / "t.jsonl", spans))
    assert [t.status for t in run.tasks] == [TaskStatus.OK, TaskStatus.FAILED]
    assert run.task(3).error_message == "Boom: it broke"


def test_a_last_line_cut_short_is_skipped_with_a_warning(
    traced: tuple[Path, Run], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A writer killed mid-line loses that line, not the whole recorded run; a broken
    line with whole lines after it is still an error."""
    path, run = traced
    lines = path.read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join([*lines, lines[-1][: len(lines[-1]) // 2]]))
    with caplog.at_level("WARNING", logger="aiodag.trace"):
        same_dag(load_run(cut), run)
    assert any("cut short" in r.getMessage() for r in caplog.records)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([lines[0], lines[0][:10], *lines]) + "\n")
    with pytest.raises(TraceFileError, match="line 2"):
        load_run(broken)


def test_loop_blocks_read_back_from_otlp_and_jaeger(tmp_path: Path) -> None:
    """The trace's aiodag.loop_blocked events come back as the run's loop_blocks (so a
    drawing or summary from a trace names the blocker, as for the live run)."""
    import time as clock

    @task
    async def blocker() -> None:
        clock.sleep(0.25)  # noqa: ASYNC251  # blocks the loop, on purpose

    path = tmp_path / "trace.jsonl"
    provider = configure("tests", file=path, install=False)

    async def main() -> Run:
        async with Run("blocked", sinks=[OpenTelemetrySink(provider)],
                       block_threshold=0.1) as run:
            blocker()
        return run

    run = asyncio.run(main())
    provider.shutdown()
    [live] = run.loop_blocks
    jaeger = tmp_path / "jaeger.json"
    jaeger.write_text(json.dumps(to_jaeger(otlp_spans(path))))
    for source in (path, jaeger):
        [block] = load_run(source).loop_blocks
        assert (block.task_id, block.name, block.where) == (live.task_id, "blocker", live.where)
        assert block.duration_ns == pytest.approx(live.duration_ns, abs=2_000)
        assert 0 <= block.start < block.end
