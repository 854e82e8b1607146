"""``aiodag render`` and ``aiodag run`` on input that used to break them, as real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import PIPELINES, aiodag, svg_edges, svg_nodes
from test_trace_stored import CYCLES, GOOD, cycle_file, otlp_file, otlp_spans, to_jaeger

from aiodag.trace import attributes as attr


def one_error_line(result: object) -> str:
    """The command failed on bad input: status 2, one `aiodag: error:` line, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("aiodag: error: ")
    return lines[0]


@pytest.mark.dot
def test_render_reads_jaegers_trace_json(tmp_path: Path) -> None:
    """The Jaeger UI's "Trace JSON" of the demo draws the same DAG as the OTLP file."""
    assert aiodag("demo", "--out", tmp_path, "--speed", "0.01").returncode == 0
    jaeger = tmp_path / "jaeger.json"
    jaeger.write_text(json.dumps(to_jaeger(otlp_spans(tmp_path / "trace.jsonl")), indent=2))
    result = aiodag("render", jaeger, "-o", tmp_path / "jaeger.svg")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"rendered run 'etl' (14 tasks) to {tmp_path / 'jaeger.svg'}"
    nodes = svg_nodes(tmp_path / "jaeger.svg")
    assert nodes.keys() == svg_nodes(tmp_path / "pipeline.svg").keys()
    assert sorted(svg_edges(tmp_path / "jaeger.svg")) == sorted(
        svg_edges(tmp_path / "pipeline.svg")
    )


def test_a_file_that_is_no_trace_gets_the_formats_read(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"traces": []}')
    line = one_error_line(aiodag("render", path))
    for named in ("OTLP JSON", "configure(file=...)", "Jaeger's JSON", '"Trace JSON"',
                  '"Download Results"'):
        assert named in line


@pytest.mark.parametrize("cycle", CYCLES)
def test_render_reports_a_cycle_instead_of_hanging(tmp_path: Path, cycle: str) -> None:
    path = cycle_file(tmp_path / "cycle.jsonl", CYCLES[cycle])
    line = one_error_line(aiodag("render", path, "-o", tmp_path / "x.dot"))
    assert "form a cycle" in line


def _with(key: str, value: dict[str, object], index: int = 1) -> list[dict[str, object]]:
    spans = json.loads(json.dumps(GOOD))
    spans[index]["attributes"].append({"key": key, "value": value})
    return spans


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 200_000 + "]" * 200_000, "neither OTLP JSON"),
        ('{"resourceSpans": ' + "[" * 200_000 + "]" * 200_000 + "}", "Expected `object`"),
        (_with(attr.TASK_ID, {"stringValue": "x"}), "aiodag.task.id must be an integer"),
        (_with(attr.TASK_ID, {"arrayValue": {"values": []}}), "aiodag.task.id must be"),
        (_with(attr.RUN_MAKESPAN_S, {"doubleValue": "Infinity"}, 0),
         "makespan_s must be a finite number"),
        (_with(attr.RUN_MAKESPAN_S, {"arrayValue": {"values": [{"doubleValue": 1}]}}, 0),
         "makespan_s must be a number"),
    ],
    ids=["deep", "deep-inside", "id-string", "id-array", "makespan-inf", "makespan-array"],
)
def test_malformed_traces_get_one_error_line(
    tmp_path: Path, content: str | list[dict[str, object]], message: str
) -> None:
    path = tmp_path / "bad.json"
    if isinstance(content, str):
        path.write_text(content)
    else:
        otlp_file(path, content)
    assert message in one_error_line(aiodag("render", path, "-o", tmp_path / "x.svg"))


@pytest.mark.dot
def test_run_names_and_errors_graphviz_rejected(tmp_path: Path) -> None:
    """`aiodag run --name "]"` with a task named " ", an exception class named " " and one
    whose __str__ raises: reported (status 1), drawn per task and aggregated."""
    for options in ([], ["--aggregate-above", "1"]):
        out = tmp_path / f"out{len(options)}"
        result = aiodag("run", PIPELINES / "odd_names.py", "--name", "]", "--out", out,
                        *options)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr.replace("Traceback (most recent call last)", "")
        assert "run ']' failed: 2 task(s) raised" in result.stderr
        assert "unprintable(): " in result.stderr and "<exception str() failed>" in result.stderr
        assert (out / "pipeline.png").stat().st_size > 1000
        nodes = svg_nodes(out / "pipeline.svg")
        assert len(nodes) == (3 if options else 4)
        rendered = aiodag("render", out / "trace.jsonl", "-o", out / "again.svg", *options)
        assert rendered.returncode == 0, rendered.stderr
        assert len(svg_nodes(out / "again.svg")) == len(nodes)


@pytest.mark.dot
def test_a_dot_that_fails_is_reported_not_raised(tmp_path: Path) -> None:
    """A broken Graphviz installation (no layout plugins): an error line, not a traceback."""
    assert aiodag("demo", "--out", tmp_path, "--speed", "0.01").returncode == 0
    plugins = tmp_path / "no-plugins"
    plugins.mkdir()
    result = aiodag("render", tmp_path / "trace.jsonl", "-o", tmp_path / "x.svg",
                    env={"GVBINDIR": str(plugins)})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith(
        "aiodag: error: Graphviz's dot could not draw run 'etl': "
    )
