"""The command's timing outputs: timeline, Perfetto trace, ``render --timeline``, ``diff``."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_cli import PIPELINES, aiodag

SVG = "{http://www.w3.org/2000/svg}"


def bar_ids(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    return [g.get("id", "") for g in root.iter(f"{SVG}g") if g.get("id", "").startswith("task-")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One ``aiodag demo`` run for the tests that only read its outputs: its folder, stdout."""
    out = tmp_path_factory.mktemp("demo")
    result = aiodag("demo", "--out", out, "--speed", "0.01")
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_demo_writes_a_timeline_and_a_perfetto_trace(demo: tuple[Path, str]) -> None:
    """aiodag demo: timeline.svg has 14 bars, run.perfetto.json 14 slices and 14 flows."""
    tmp_path, stdout = demo
    assert f"timeline: {tmp_path / 'timeline.svg'}" in stdout
    assert f"perfetto trace: {tmp_path / 'run.perfetto.json'}" in stdout
    assert len(bar_ids(tmp_path / "timeline.svg")) == 14
    events = json.loads((tmp_path / "run.perfetto.json").read_text())["traceEvents"]
    assert sum(1 for e in events if e["ph"] == "X" and e["cat"] == "task") == 14
    assert sum(1 for e in events if e["ph"] == "s") == 14


def test_render_draws_a_timeline_or_writes_perfetto_from_a_stored_trace(
    demo: tuple[Path, str], tmp_path: Path
) -> None:
    """render --timeline and render -o X.perfetto.json read the stored run back."""
    demo_out, _stdout = demo
    (tmp_path / "trace.jsonl").write_bytes((demo_out / "trace.jsonl").read_bytes())
    (tmp_path / "timeline.svg").write_bytes((demo_out / "timeline.svg").read_bytes())
    out = tmp_path / "from-trace.svg"
    result = aiodag("render", tmp_path / "trace.jsonl", "-o", out, "--timeline")
    assert result.returncode == 0, result.stderr
    assert sorted(bar_ids(out)) == sorted(bar_ids(tmp_path / "timeline.svg"))
    png = tmp_path / "timeline.png"
    assert aiodag("render", tmp_path / "trace.jsonl", "-o", png, "--timeline").returncode == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    perfetto = tmp_path / "stored.perfetto.json"
    assert aiodag("render", tmp_path / "trace.jsonl", "-o", perfetto).returncode == 0
    doc = json.loads(perfetto.read_text())
    assert doc["otherData"]["aiodag.run.tasks"] == 14
    bad = aiodag("render", tmp_path / "trace.jsonl", "-o", tmp_path / "t.json", "--timeline")
    assert bad.returncode == 2 and "must be one of ['.svg', '.png', '.pdf']" in bad.stderr
    default = aiodag("render", tmp_path / "trace.jsonl", "--timeline")
    assert default.stdout.strip().endswith(str(tmp_path / "trace.timeline.svg"))
    assert len(bar_ids(tmp_path / "trace.timeline.svg")) == 14


@pytest.mark.dot
def test_diff_prints_a_table_and_draws_the_change(
    demo: tuple[Path, str], tmp_path: Path
) -> None:
    """aiodag diff A B -o diff.svg: the summary in the terminal, the drawing on disk."""
    a, b = demo[0], tmp_path / "b"
    assert aiodag("demo", "--out", b, "--speed", "0.04").returncode == 0
    out = tmp_path / "diff.svg"
    result = aiodag("diff", a / "trace.jsonl", b / "trace.jsonl", "-o", out)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("run 'etl' → 'etl': 14 → 14 tasks, makespan")
    assert any(line.startswith("fetch('c1')") and line.endswith("slower") for line in lines)
    assert lines[-1] == f"drawing: {out}"
    root = ET.parse(out).getroot()
    nodes = [g for g in root.iter(f"{SVG}g") if "node" in (g.get("class") or "").split()]
    assert len(nodes) == 14


def test_diff_of_a_failed_run_names_the_status_changes(tmp_path: Path) -> None:
    """A failing run against a good one: the table names what now fails."""
    good, bad = tmp_path / "good", tmp_path / "bad"
    assert aiodag("run", PIPELINES / "failing.py:raises_itself", "--out", good).returncode == 1
    assert aiodag("run", PIPELINES / "failing.py", "--out", bad).returncode == 1
    assert len(bar_ids(bad / "timeline.svg")) == 6  # a failed run gets its timeline too
    result = aiodag("diff", good / "trace.jsonl", bad / "trace.jsonl")
    assert result.returncode == 0, result.stderr
    assert "load('a')  " in result.stdout and "cancelled → ok" in result.stdout
    assert "critical path moved:" in result.stdout
    assert "  before: load('slow')" in result.stdout


def test_diff_of_a_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    """No traceback: one line naming the file, exit status 2."""
    result = aiodag("diff", tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    assert result.returncode == 2
    assert result.stderr.strip() == f"aiodag: error: no such file: '{tmp_path / 'a.jsonl'}'"


def test_a_timing_output_that_cannot_be_written_costs_nothing_else(tmp_path: Path) -> None:
    """Unwritable timeline and Perfetto paths: said so, and every other output is there."""
    (tmp_path / "timeline.svg").mkdir()
    (tmp_path / "run.perfetto.json").mkdir()
    result = aiodag("demo", "--out", tmp_path, "--speed", "0.01")
    assert result.returncode == 0, result.stderr
    assert "timeline not written: IsADirectoryError" in result.stdout
    assert "perfetto trace not written:" in result.stdout
    for name in ("trace.jsonl", "pipeline.svg", "pipeline.png"):
        assert (tmp_path / name).stat().st_size > 1000


@pytest.mark.dot
def test_the_diff_summary_accounts_for_every_task(tmp_path: Path) -> None:
    """Tasks that did not run have a count too: the counts add up to the run's tasks."""
    assert aiodag("run", PIPELINES / "failing.py", "--out", tmp_path).returncode == 1
    trace = tmp_path / "trace.jsonl"
    result = aiodag("diff", trace, trace)
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("tasks: ")]
    counted = {key: int(n) for n, key in re.findall(
        r"(\d+) (slower|faster|about the same|did not run|new)", line)}
    assert counted["did not run"] == 1  # combine(…, load('bad')): upstream_failed
    assert sum(counted.values()) == 6
