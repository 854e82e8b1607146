"""The ``aiodag`` command, run as a real subprocess; outputs parsed and checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

PIPELINES = Path(__file__).parent / "pipelines"
SVG = "{http://www.w3.org/2000/svg}"


def aiodag(*args: str | Path, cwd: Path | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m aiodag ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "aiodag", *map(str, args)],
        capture_output=True, text=True, timeout=120, cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def svg_nodes(path: Path) -> dict[str, str]:
    """DOT node name -> visible text, from a rendered SVG."""
    root = ET.parse(path).getroot()
    nodes = {}
    for group in root.iter(f"{SVG}g"):
        if "node" in (group.get("class") or "").split():
            title = group.find(f"{SVG}title")
            texts = " ".join(t.text or "" for t in group.iter(f"{SVG}text"))
            assert title is not None and title.text is not None
            nodes[title.text] = texts
    return nodes


def svg_edges(path: Path) -> list[str]:
    """The titles (``a->b``) of a rendered SVG's edges."""
    root = ET.parse(path).getroot()
    return [
        group.findtext(f"{SVG}title") or ""
        for group in root.iter(f"{SVG}g") if "edge" in (group.get("class") or "").split()
    ]


def trace_spans(path: Path) -> list[dict[str, Any]]:
    """Every span of an OTLP JSON lines file, with attributes as a plain dict."""
    spans = []
    for line in path.read_text().splitlines():
        for resource in json.loads(line)["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    span["attrs"] = {
                        a["key"]: next(iter(a["value"].values()))
                        for a in span.get("attributes", [])
                    }
                    spans.append(span)
    return spans


@pytest.mark.dot
def test_demo_writes_drawings_and_trace_and_prints_a_summary(tmp_path: Path) -> None:
    """aiodag demo: pipeline.svg/png and trace.jsonl of the 14-task ETL run, and a summary."""
    result = aiodag("demo", "--out", tmp_path, "--speed", "0.01")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("run 'etl': 14 tasks, makespan ")
    assert lines[1].startswith("critical path (4 tasks): fetch('c1') → concatenate(")
    assert lines[1].split(" → ")[-1].startswith("upload(")
    calls = ("fetch(", "concatenate(", "strip", "upload(")
    table = [line for line in lines if line.startswith(calls)]
    assert len(table) == 14
    assert all(" ok " in row for row in table)

    nodes = svg_nodes(tmp_path / "pipeline.svg")
    assert len([n for n in nodes if n.isdigit()]) == 14
    assert any("fetch('c1')" in text for text in nodes.values())
    assert len([e for e in svg_edges(tmp_path / "pipeline.svg") if "->" in e]) >= 14
    png = (tmp_path / "pipeline.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    page = tmp_path / "pipeline.html"
    assert f"live view: {page.resolve().as_uri()} (open it in a browser" in result.stderr
    assert f"live view: {page}" in lines
    assert 'src = "pipeline.live.js"' in page.read_text(encoding="utf-8")
    assert '"running": false' in (tmp_path / "pipeline.live.js").read_text(encoding="utf-8")

    spans = trace_spans(tmp_path / "trace.jsonl")
    run_spans = [s for s in spans if "aiodag.run.id" in s["attrs"]]
    task_spans = [s for s in spans if "aiodag.task.id" in s["attrs"]]
    assert [s["name"] for s in run_spans] == ["etl"]
    assert len(task_spans) == 14
    assert all(s["parentSpanId"] == run_spans[0]["spanId"] for s in task_spans)
    assert sum(len(s.get("links", [])) for s in task_spans) == 14


@pytest.mark.dot
def test_run_executes_a_users_pipeline_with_outputs(tmp_path: Path) -> None:
    """aiodag run FILE.py: runs main() in a Run; data and exogenous edges are drawn."""
    result = aiodag("run", PIPELINES / "good.py", "--out", tmp_path, "--name", "mine")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("run 'mine': 4 tasks")
    nodes = svg_nodes(tmp_path / "pipeline.svg")
    assert sorted(t.split("(")[0].split()[-1] for t in nodes.values() if "(" in t)[:4] == [
        "gate", "load", "load", "merge"
    ]
    spans = trace_spans(tmp_path / "trace.jsonl")
    merge = next(s for s in spans if s["name"] == "merge")
    kinds = sorted(link["attributes"][0]["value"]["stringValue"] if link.get("attributes")
                   else "data" for link in merge["links"])
    assert kinds == ["data", "data", "exogenous"]


def test_run_picks_the_named_function(tmp_path: Path) -> None:
    """FILE.py:FUNC runs FUNC instead of main."""
    result = aiodag("run", f"{PIPELINES / 'good.py'}:other", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("run 'good': 1 tasks")


@pytest.mark.dot
def test_a_failing_pipeline_reports_and_still_writes_everything(tmp_path: Path) -> None:
    """A failed task: a readable report, exit status 1, drawings and trace written."""
    result = aiodag("run", PIPELINES / "failing.py", "--out", tmp_path)
    assert result.returncode == 1
    assert "run 'failing' failed: 1 task(s) raised, 1 did not run because of them" in result.stderr
    assert "load('bad'): ValueError: cannot load 'bad'" in result.stderr
    nodes = svg_nodes(tmp_path / "pipeline.svg")
    assert any("ValueError" in text for text in nodes.values())
    spans = trace_spans(tmp_path / "trace.jsonl")
    statuses = sorted(
        s["attrs"].get("aiodag.task.status", "ok")  # an ok task's span has none
        for s in spans if "aiodag.task.id" in s["attrs"]
    )
    assert statuses == ["failed", "ok", "ok", "ok", "ok", "upstream_failed"]
    assert (tmp_path / "pipeline.png").stat().st_size > 1000


@pytest.mark.dot
def test_render_rebuilds_the_dag_from_a_stored_trace(tmp_path: Path) -> None:
    """aiodag render: the stored trace's DAG, drawn like the live run's."""
    assert aiodag("demo", "--out", tmp_path, "--speed", "0.01").returncode == 0
    out = tmp_path / "rebuilt.svg"
    result = aiodag("render", tmp_path / "trace.jsonl", "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"rendered run 'etl' (14 tasks) to {out}"
    live, rebuilt = svg_nodes(tmp_path / "pipeline.svg"), svg_nodes(out)
    assert live.keys() == rebuilt.keys()
    assert sorted(svg_edges(tmp_path / "pipeline.svg")) == sorted(svg_edges(out))
    dot = tmp_path / "rebuilt.dot"
    assert aiodag("render", tmp_path / "trace.jsonl", "-o", dot).returncode == 0
    assert dot.read_text().startswith("digraph")


@pytest.mark.dot
def test_render_chooses_a_run_by_name(tmp_path: Path) -> None:
    """Several runs in one file: --run NAME picks one, the default is the last."""
    first, second = tmp_path / "a", tmp_path / "b"
    assert aiodag("run", PIPELINES / "good.py", "--out", first, "--name", "one").returncode == 0
    assert aiodag("demo", "--out", second, "--speed", "0.01").returncode == 0
    both = tmp_path / "both.jsonl"
    both.write_text((first / "trace.jsonl").read_text() + (second / "trace.jsonl").read_text())
    last = aiodag("render", both, "-o", tmp_path / "last.svg")
    assert "rendered run 'etl' (14 tasks)" in last.stdout
    named = aiodag("render", both, "--run", "one", "-o", tmp_path / "one.svg")
    assert "rendered run 'one' (4 tasks)" in named.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bogus"], "invalid choice: 'bogus'"),
        (["run", "missing.py"], "no such file: 'missing.py'"),
        (["run", "good.py:nothing"], "no function 'nothing' (async functions there: main, other)"),
        (["run", "failing.py:not_async"], "is not an async function"),
        (["render", "missing.jsonl"], "no such file: 'missing.jsonl'"),
        (["render", "good.py"], "it is neither OTLP JSON (no 'resourceSpans') nor Jaeger's JSON"),
        (["render", "empty.jsonl"], "none of an aiodag task"),
        (["demo", "--speed", "0"], "must be greater than 0"),
        (["demo", "--aggregate-above", "-1"], "max_nodes must be an integer >= 0"),
    ],
)
def test_bad_input_gets_one_clear_line_and_no_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Every error path: one line on stderr, exit status 2, never a traceback."""
    for name in ("good.py", "failing.py"):
        (tmp_path / name).write_text((PIPELINES / name).read_text())
    (tmp_path / "empty.jsonl").write_text('{"resourceSpans": []}\n')
    result = aiodag(*args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aiodag") and ": error: " in lines[0]
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_progress_is_plain_lines_when_not_on_a_terminal(tmp_path: Path) -> None:
    """Piped output gets plain progress lines ending with the final counts, once."""
    result = aiodag("run", PIPELINES / "good.py", "--out", tmp_path)
    progress = [line for line in result.stderr.splitlines() if line.startswith("ok ")]
    assert progress, result.stderr
    assert progress[-1].startswith(
        "ok 4  running 0  pending 0  failed 0  upstream_failed 0  cancelled 0  elapsed "
    )
    finals = [line for line in progress if line.startswith("ok 4  running 0  pending 0")]
    assert len(finals) == 1, progress


def test_progress_counts_cancelled_tasks_apart_and_prints_the_end_once() -> None:
    """Cancelled tasks are not "done"; the last line is not printed twice."""
    import io

    from aiodag.cli.progress import Progress
    from aiodag.events import TaskCreated, TaskFinished, TaskStarted, TaskStatus

    stream = io.StringIO()
    with Progress(stream, interval=0.0) as progress:
        for i, status in enumerate((TaskStatus.OK, TaskStatus.CANCELLED, TaskStatus.FAILED)):
            progress(TaskCreated(i, "t", "t()", None, (), (), (), 0))
            if status is not TaskStatus.CANCELLED:
                progress(TaskStarted(i, 0))
            progress(TaskFinished(i, status, None, None, 0))
    final = "ok 1  running 0  pending 0  failed 1  upstream_failed 0  cancelled 1  elapsed "
    lines = stream.getvalue().splitlines()
    assert lines[-1].startswith(final)
    assert len([line for line in lines if line.startswith(final)]) == 1, lines


@pytest.mark.dot
def test_progress_is_a_live_display_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal (a real pseudo-terminal here) rich redraws one status line."""
    import pty

    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "aiodag", "demo", "--out", str(tmp_path), "--speed", "0.05"],
            stdout=subprocess.DEVNULL, stderr=follower, env={**os.environ, "TERM": "xterm"},
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: the command has exited
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 0
    finally:
        os.close(leader)
    screen = b"".join(chunks).decode()
    assert "\x1b[" in screen  # drawn with terminal control sequences, not plain lines
    assert "ok 14  running 0  pending 0  failed 0  upstream_failed 0  cancelled 0" in screen
    assert "\r" in screen  # the line is redrawn in place


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_demo_also_exports_over_otlp(
    tmp_path: Path, protocol: str, request: pytest.FixtureRequest
) -> None:
    """--otlp URL sends the run's spans to a real receiver, as well as to the file."""
    received, port = request.getfixturevalue(f"{protocol}_receiver")
    url = f"http://127.0.0.1:{port}" + ("/v1/traces" if protocol == "http" else "")
    result = aiodag("demo", "--out", tmp_path, "--speed", "0.01", "--otlp", url,
                    "--otlp-protocol", protocol)
    assert result.returncode == 0, result.stderr
    assert f"trace exported over OTLP to {url} (15 spans)" in result.stdout
    spans = received.spans()
    assert sorted({s["name"] for s in spans}) == ["concatenate", "etl", "fetch",
                                                  "strip_numbers", "upload"]
    assert len(spans) == 15
    assert len(trace_spans(tmp_path / "trace.jsonl")) == 15


def test_the_otlp_endpoint_can_come_from_the_environment(
    tmp_path: Path, grpc_receiver: tuple[Any, int]
) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT stands in for --otlp."""
    received, port = grpc_receiver
    url = f"http://127.0.0.1:{port}"
    result = aiodag("demo", "--out", tmp_path, "--speed", "0.01",
                    env={"OTEL_EXPORTER_OTLP_ENDPOINT": url})
    assert result.returncode == 0, result.stderr
    assert len(received.spans()) == 15


def test_a_pipeline_awaiting_a_failed_task_blames_the_task(tmp_path: Path) -> None:
    """The function awaited a failed task: the report names the task, not the function."""
    result = aiodag("run", f"{PIPELINES / 'failing.py'}:awaits_failure", "--out", tmp_path)
    assert result.returncode == 1
    assert "load('bad'): ValueError: cannot load 'bad'" in result.stderr
    assert "the pipeline function itself raised" not in result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("other() ")]
    assert rows and rows[0][1] == "ok"  # the independent branch was not cancelled


def test_a_pipeline_function_that_raises_is_reported_as_such(tmp_path: Path) -> None:
    """The function's own error: reported, the run's tasks cancelled, outputs written."""
    result = aiodag("run", f"{PIPELINES / 'failing.py'}:raises_itself", "--out", tmp_path)
    assert result.returncode == 1
    assert "the pipeline function itself raised KeyError: \"the pipeline's own bug\"" in (
        result.stderr
    )
    assert f"(at {PIPELINES / 'failing.py'}:" in result.stderr  # where it raised
    assert "failed: its pipeline function raised" in result.stderr  # no task raised
    assert (tmp_path / "trace.jsonl").stat().st_size > 0


@pytest.mark.dot
def test_render_reads_jaegers_api_json_too(tmp_path: Path) -> None:
    """A pretty-printed OTLP document wrapped in Jaeger's {"result": …} renders the same."""
    assert aiodag("demo", "--out", tmp_path, "--speed", "0.01").returncode == 0
    documents = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    merged = {"resourceSpans": [rs for doc in documents for rs in doc["resourceSpans"]]}
    exported = tmp_path / "from-jaeger.json"
    exported.write_text(json.dumps({"result": merged}, indent=2))
    result = aiodag("render", exported, "-o", tmp_path / "j.svg")
    assert result.returncode == 0, result.stderr
    assert "rendered run 'etl' (14 tasks)" in result.stdout
    assert svg_nodes(tmp_path / "j.svg").keys() == svg_nodes(tmp_path / "pipeline.svg").keys()


def run_until_ready_then_signal(
    pipeline: Path, tmp_path: Path, signum: int, *, timeout: float
) -> tuple[int, str, str, float]:
    """``aiodag run PIPELINE --out TMP/out``; once the pipeline touches the file named by
    AIODAG_TEST_READY, send ``signum``: (exit status, stdout, stderr, seconds from the
    signal to the exit)."""
    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [sys.executable, "-m", "aiodag", "run", str(pipeline), "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "AIODAG_TEST_READY": str(ready)},
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the pipeline never got ready"
            time.sleep(0.02)
        signalled = time.monotonic()
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=timeout)
        return process.returncode, stdout, stderr, time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.dot
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_run_and_keeps_everything_it_traced(
    tmp_path: Path, signum: int, status: int
) -> None:
    """SIGTERM / SIGINT: the run is cancelled, its trace, drawings and summary written."""
    returncode, stdout, stderr, _ = run_until_ready_then_signal(
        PIPELINES / "slow.py", tmp_path, signum, timeout=60)
    assert returncode == status, stderr
    assert f"stopped by {signal.Signals(signum).name}: 2 task(s) cancelled" in stderr
    assert "Traceback" not in stderr
    assert stdout.startswith("run 'slow': 22 tasks")
    spans = trace_spans(tmp_path / "out" / "trace.jsonl")
    statuses = Counter(s["attrs"].get("aiodag.task.status", "ok") for s in spans
                       if "aiodag.task.id" in s["attrs"])
    assert statuses == {"ok": 20, "cancelled": 2}
    [run_span] = [s for s in spans if "aiodag.run.id" in s["attrs"]]
    assert run_span["attrs"]["aiodag.run.tasks.cancelled"] == "2"
    assert run_span["attrs"]["aiodag.run.cancelled"] is True  # the trace says it was stopped
    assert (tmp_path / "out" / "pipeline.png").stat().st_size > 0
    # The 20 quick calls drawn as one stacked node, then the two cancelled tasks.
    nodes = svg_nodes(tmp_path / "out" / "pipeline.svg")
    assert len(nodes) == 3
    assert sum(text.startswith("quick ×20 ") for text in nodes.values()) == 1


# -- the command's messages ---------------------------------------------------------------

def test_version() -> None:
    """aiodag --version: the package's version."""
    import aiodag as package

    result = aiodag("--version")
    assert (result.returncode, result.stdout) == (0, f"aiodag {package.__version__}\n")


def test_otlp_with_nothing_listening_is_said_once_with_the_counts(tmp_path: Path) -> None:
    """One line: not exported, how many spans were dropped, why; no library advice."""
    from otlp_receivers import free_port

    endpoint = f"127.0.0.1:{free_port()}"
    result = aiodag("demo", "--out", tmp_path, "--speed", "0.01", "--otlp", endpoint)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    [line] = [line for line in output.splitlines() if endpoint in line]
    assert line.startswith(f"trace not exported over OTLP to http://{endpoint}: "
                           "0 of 15 spans exported, 15 dropped (")
    assert "Connection refused" in line or "failed to connect" in line.lower()
    assert "configure(" not in output and "cannot export spans" not in output
    assert f"trace: {tmp_path / 'trace.jsonl'} (15 spans)" in result.stdout


def test_an_error_passed_on_by_an_awaiting_task_is_counted_once(tmp_path: Path) -> None:
    """A task that awaited a failed task and let its error through is not a second error."""
    result = aiodag("run", f"{PIPELINES / 'failing.py'}:passes_on", "--out", tmp_path)
    assert result.returncode == 1
    assert "run 'failing' failed: 4 task(s) raised" in result.stderr
    report = result.stderr[result.stderr.index("run 'failing' failed"):].splitlines()
    assert report[1:] == [*["  load('bad'): ValueError: cannot load 'bad'"] * 4,
                          "  waits_for_the_first(): awaited load('bad') and let its error "
                          "through"]


def test_a_large_run_is_summarised_and_all_tasks_gives_the_table(tmp_path: Path) -> None:
    """200 tasks: status counts, the longest tasks, the path's ends; --all-tasks: all."""
    # (Drawn aggregated: the drawing is not what this test is about.)
    result = aiodag("run", PIPELINES / "many.py", "--out", tmp_path, "--aggregate-above", "10")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) < 40, result.stdout
    assert lines[0].startswith("run 'many': 200 tasks, makespan ")
    path = lines[1]
    assert path.startswith("critical path (30 tasks): step(None, 0) → ")
    assert "→ … 22 more … →" in path and path.endswith("step(step#29, 29)")
    assert "tasks: 200 ok" in result.stdout
    assert "the 10 longest tasks:" in result.stdout
    assert "--all-tasks" in result.stdout
    full = aiodag("run", PIPELINES / "many.py", "--out", tmp_path, "--all-tasks",
                  "--aggregate-above", "10").stdout
    rows = [line for line in full.splitlines() if line.startswith(("step(", "side("))]
    assert len(rows) == 200
    assert "more …" not in full


def test_a_signal_ends_the_command_although_a_worker_thread_runs_on(tmp_path: Path) -> None:
    """A plain `def` task's thread cannot be cancelled: the command still exits once its
    outputs are written, with the summary on stdout, instead of waiting for the thread."""
    returncode, stdout, stderr, took = run_until_ready_then_signal(
        PIPELINES / "stuck_thread.py", tmp_path, signal.SIGTERM,
        timeout=40)  # the thread sleeps 60 s
    assert returncode == 143, stderr
    assert took < 40
    assert stdout.startswith("run 'stuck_thread': 1 tasks")
    assert (tmp_path / "out" / "trace.jsonl").stat().st_size > 0


@pytest.mark.dot
def test_sys_exit_in_the_pipeline_writes_everything_then_exits_with_its_code(
    tmp_path: Path,
) -> None:
    result = aiodag("run", f"{PIPELINES / 'failing.py'}:exits", "--out", tmp_path)
    assert result.returncode == 3, result.stderr
    assert result.stdout.startswith("run 'failing': 2 tasks")
    for name in ("trace.jsonl", "pipeline.svg", "pipeline.png", "timeline.svg",
                 "run.perfetto.json"):
        assert (tmp_path / name).stat().st_size > 0, name


def test_progress_counts_the_retries_of_a_real_run() -> None:
    """A task with retries shows them: each failed attempt that was retried, once."""
    import asyncio
    import io

    from aiodag import Run, task
    from aiodag.cli.progress import Progress

    calls = 0

    @task(retries=3, retry_delay=0.0)
    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("not yet")
        return calls

    @task
    async def steady() -> int:
        return 1

    stream = io.StringIO()

    async def main() -> None:
        with Progress(stream, interval=0.0) as progress:
            async with Run("retrying", sinks=[progress]):
                flaky()
                steady()

    asyncio.run(main())
    lines = stream.getvalue().splitlines()
    assert lines[-1].startswith(
        "ok 2  running 0  pending 0  failed 0  upstream_failed 0  cancelled 0  retries 2  "
    ), lines
    assert "retries" not in lines[0]  # not shown before there are any
    assert any("  retries 1  " in line for line in lines)
