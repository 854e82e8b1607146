"""``configure``: spans exported over OTLP (gRPC, HTTP) to real receivers, and to a file.

The receivers are oteltest's sinks, which decode real OTLP requests; they run on free
ports of this machine, and the exporters reach them on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from otlp_receivers import Received, free_port

from aiodag import Run, task
from aiodag.demo import etl_pipeline
from aiodag.trace import OpenTelemetrySink, configure
from aiodag.trace import attributes as attr
from aiodag.trace.configure import EXPORT_TIMEOUT_S


class Boom(Exception):
    """An error raised by a task."""


@task
async def fail() -> int:
    raise Boom("no")


@task
async def add(a: int, b: int) -> int:
    return a + b


async def run_etl(provider: TracerProvider) -> Run:
    """The seed's ETL pipeline, fast, plus a failing branch, traced into ``provider``."""
    async with Run("etl", sinks=[OpenTelemetrySink(provider)], raise_errors=False) as run:
        etl_pipeline(0.01)
        add(fail(), 1)
    return run


def check_the_run_arrived(spans: list[dict[str, Any]], run: Run, service: str) -> None:
    """Every span of ``run``, with its parent, attributes, links and kinds, and status."""
    [run_span] = [s for s in spans if s["name"] == "etl"]
    tasks = {s["attributes"][attr.TASK_ID]: s for s in spans if s is not run_span}
    assert len(spans) == len(run.tasks) + 1 == 17
    assert {s["service"] for s in spans} == {service}
    assert {s["scope"] for s in spans} == {"aiodag"}
    assert run_span["parent"] == b""
    assert run_span["attributes"][attr.RUN_TASKS] == 16
    assert run_span["attributes"][attr.RUN_CRITICAL_PATH] == [
        r.label for r in run.critical_path()
    ]
    assert run_span["status"] == 2  # STATUS_CODE_ERROR: a task failed
    for record in run.tasks:
        span = tasks[record.id]
        assert span["name"] == record.name
        assert span["parent"] == run_span["span_id"]
        assert span["trace_id"] == run_span["trace_id"]
        assert span["attributes"][attr.TASK_LABEL] == record.label
        # An ok task's span carries no status attribute.
        assert span["attributes"].get(attr.TASK_STATUS, "ok") == record.status.value
        assert span["links"] == [
            (tasks[upstream]["span_id"],
             {attr.DEPENDENCY_KIND: kind.value} if kind == "exogenous" else {})
            for upstream, kind in record.deps
        ]
        assert span["status"] == (2 if record.error is not None else 0)


# -- OTLP to a receiver ----------------------------------------------------------------

async def test_spans_and_links_arrive_over_grpc(grpc_receiver: tuple[Received, int]) -> None:
    """configure(endpoint=host:port): OTLP/gRPC, plain text, Jaeger's protocol on 4317."""
    received, port = grpc_receiver
    provider = configure("etl-grpc", endpoint=f"127.0.0.1:{port}", install=False)
    try:
        run = await run_etl(provider)
        assert provider.force_flush()
    finally:
        provider.shutdown()
    check_the_run_arrived(received.spans(), run, "etl-grpc")
    assert all("OTel-OTLP-Exporter-Python" in h["user-agent"] for h in received.headers)


async def test_spans_and_links_arrive_over_http(http_receiver: tuple[Received, int]) -> None:
    """protocol="http": OTLP/HTTP protobuf; /v1/traces is added to the endpoint."""
    received, port = http_receiver
    provider = configure(
        "etl-http", endpoint=f"127.0.0.1:{port}", protocol="http", install=False
    )
    try:
        run = await run_etl(provider)
        assert provider.force_flush()
    finally:
        provider.shutdown()
    check_the_run_arrived(received.spans(), run, "etl-http")
    content_types = {
        value for h in received.headers for key, value in h.items() if key.lower() == "content-type"
    }
    assert content_types == {"application/x-protobuf"}


async def test_the_standard_variables_choose_the_endpoint_and_protocol(
    http_receiver: tuple[Received, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT / _PROTOCOL and OTEL_SERVICE_NAME, no arguments."""
    received, port = http_receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    provider = configure(install=False)
    try:
        run = await run_etl(provider)
        assert provider.force_flush()
    finally:
        provider.shutdown()
    check_the_run_arrived(received.spans(), run, "from-env")


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["grpc", "http"])
async def test_an_unreachable_endpoint_costs_one_warning_and_a_bounded_flush(
    protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens: the pipeline runs as usual, one clear warning, flush in seconds."""
    caplog.set_level(logging.DEBUG)
    endpoint = f"127.0.0.1:{free_port()}"
    provider = configure(endpoint=endpoint, protocol=protocol, install=False)
    try:
        started = time.monotonic()
        run = await run_etl(provider)
        assert time.monotonic() - started < 1.0  # the ETL run alone takes about 0.1 s
        assert len(run.tasks) == 16
        flushing = time.monotonic()
        provider.force_flush()
        await run_etl(provider)  # more spans, failing again: no second warning
        provider.force_flush()
    finally:
        provider.shutdown()
    assert time.monotonic() - flushing < EXPORT_TIMEOUT_S + 5
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name != "aiodag"]
    # One warning when it first fails, one with the tally when the provider shuts down.
    assert [(r.name, r.levelno) for r in loud] == [("aiodag.trace.export", logging.WARNING)] * 2
    message = loud[0].getMessage()
    assert loud[1].getMessage().startswith(
        f"34 of 34 spans were not exported to http://{endpoint}"
    )
    assert f"cannot export spans to http://{endpoint}" in message
    assert "The pipeline runs on" in message and "Is Jaeger running?" in message
    # The exporter's own reason is in the message, not lost.
    assert "Connection refused" in message and "retrying in" not in message


@pytest.mark.slow
def test_a_program_exporting_to_nothing_exits_in_seconds_with_one_warning() -> None:
    """The flush at exit (the SDK's own hook) is bounded; stderr has one warning."""
    script = textwrap.dedent(f"""
        import asyncio
        from aiodag import Run
        from aiodag.demo import etl_pipeline
        from aiodag.trace import OpenTelemetrySink, configure

        configure(endpoint="127.0.0.1:{free_port()}")

        async def main():
            async with Run("etl", sinks=[OpenTelemetrySink()]):
                etl_pipeline(0.01)

        asyncio.run(main())
        print("pipeline done")
    """)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert time.monotonic() - started < EXPORT_TIMEOUT_S + 10
    assert result.returncode == 0, result.stderr
    assert result.stdout == "pipeline done\n"
    # logging's last-resort handler: messages only; the tally comes at exit.
    [warning, tally] = result.stderr.splitlines()
    assert warning.startswith("cannot export spans to http://127.0.0.1:")
    assert tally.startswith("15 of 15 spans were not exported to http://127.0.0.1:")


# -- the file --------------------------------------------------------------------------

async def test_the_file_holds_every_span_as_otlp_json_lines(tmp_path: Path) -> None:
    """file=: OTLP JSON lines (hex ids, camelCase) with parents, links and kinds."""
    path = tmp_path / "trace.jsonl"
    provider = configure(file=path, install=False)
    run = await run_etl(provider)
    provider.shutdown()  # flushes and closes the file
    lines = path.read_text().splitlines()
    assert lines and all(line.startswith('{"resourceSpans":') for line in lines)
    spans = []
    for line in lines:
        for resource_spans in json.loads(line)["resourceSpans"]:
            resource = _json_attributes(resource_spans["resource"]["attributes"])
            assert resource["service.name"] == "aiodag"
            for scope_spans in resource_spans["scopeSpans"]:
                spans.extend(scope_spans["spans"])
    [run_span] = [s for s in spans if s["name"] == "etl"]
    assert "parentSpanId" not in run_span
    assert len(run_span["spanId"]) == 16 and len(run_span["traceId"]) == 32
    tasks = {int(_json_attributes(s["attributes"])[attr.TASK_ID]): s
             for s in spans if s is not run_span}
    assert sorted(tasks) == sorted(r.id for r in run.tasks)
    for record in run.tasks:
        span = tasks[record.id]
        found = _json_attributes(span["attributes"])
        assert span["parentSpanId"] == run_span["spanId"]
        assert found.get(attr.TASK_STATUS, "ok") == record.status.value
        assert [
            (link["spanId"],
             _json_attributes(link.get("attributes", [])).get(attr.DEPENDENCY_KIND, "data"))
            for link in span.get("links", [])
        ] == [(tasks[upstream]["spanId"], kind.value) for upstream, kind in record.deps]
        assert span["status"].get("code", 0) == (2 if record.error is not None else 0)


def _json_attributes(attributes: list[dict[str, Any]]) -> dict[str, object]:
    found: dict[str, object] = {}
    for kv in attributes:
        [(_kind, value)] = kv["value"].items()
        found[kv["key"]] = value
    return found


# -- arguments and the global provider -------------------------------------------------

def test_service_name_argument_environment_and_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The argument wins over OTEL_SERVICE_NAME, which wins over "aiodag"."""
    names = []
    for service_name, env in [(None, None), (None, "from-env"), ("given", "from-env")]:
        if env is None:
            monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
        else:
            monkeypatch.setenv("OTEL_SERVICE_NAME", env)
        provider = configure(service_name, file=tmp_path / "t.jsonl", install=False)
        names.append(provider.resource.attributes["service.name"])
        provider.shutdown()
    assert names == ["aiodag", "from-env", "given"]


def test_bad_arguments_are_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    """Errors name the bad value, where it came from, and the valid choices."""
    with pytest.raises(ValueError, match=r"unknown OTLP protocol 'http/json' in protocol "
                                         r"\(must be one of \['grpc', 'http', 'http/protobuf'\]"):
        configure(protocol="http/json", install=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")
    with pytest.raises(ValueError, match=r"'thrift' in \$OTEL_EXPORTER_OTLP_PROTOCOL"):
        configure(install=False)
    with pytest.raises(TypeError, match=r"service_name must be a non-empty string, got ''"):
        configure("", protocol="grpc", install=False)


def test_install_makes_it_the_global_provider_once(tmp_path: Path) -> None:
    """In a fresh process: the default sink uses it; a second install is refused."""
    path = tmp_path / "trace.jsonl"
    script = textwrap.dedent(f"""
        import asyncio
        from opentelemetry import trace
        import aiodag
        from aiodag.trace import OpenTelemetrySink, configure

        provider = configure("installed", file={str(path)!r})
        assert trace.get_tracer_provider() is provider

        @aiodag.task
        async def hello():
            return 1

        async def main():
            async with aiodag.Run("global", sinks=[OpenTelemetrySink()]):
                hello()

        asyncio.run(main())
        try:
            configure(file={str(path)!r})
        except RuntimeError as error:
            print(error)
    """)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "a global tracer provider is already installed" in result.stdout
    assert "call configure(..., install=False)" in result.stdout
    # Flushed at exit by the SDK's own shutdown hook.
    names = sorted(
        span["name"]
        for line in path.read_text().splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    )
    assert names == ["global", "hello"]

