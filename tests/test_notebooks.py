"""Every notebook executes from top to bottom on a real kernel, and shows what it says."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


def execute(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    """Run a notebook; any cell error fails the test.

    It runs in an empty folder, which must stay empty: a notebook writes its files into a
    temporary folder (`tempfile.mkdtemp`), not beside itself, into `notebooks/`.  The
    kernel's TMPDIR is `tmp_path / "tmp"`, so the test finds them there.
    """
    workdir, tmp = tmp_path / "cwd", tmp_path / "tmp"
    workdir.mkdir()
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))  # the kernel inherits it
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        notebook, timeout=180, kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    ).execute()
    assert list(workdir.iterdir()) == []
    return notebook


def written(tmp_path: Path, name: str) -> Path:
    """The file a notebook wrote into its temporary folder."""
    (found,) = (tmp_path / "tmp").glob(f"aiodag-notebook-*/{name}")
    return found


def outputs(notebook: nbformat.NotebookNode, kind: str) -> list[str]:
    """Every output of one mime type (or 'stream' for printed text), in order."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if kind == "stream" and output.get("output_type") == "stream":
                found.append(output["text"])
            elif kind in output.get("data", {}):
                found.append(output["data"][kind])
    return found


def test_the_notebooks_are_all_tested() -> None:
    """No notebook escapes execution."""
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == [
        "01-quickstart.ipynb", "02-tracing.ipynb", "03-visualization.ipynb",
        "04-timing.ipynb",
    ]


@pytest.mark.dot
def test_quickstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's examples run; the ETL DAG is drawn inline with its critical path."""
    notebook = execute("01-quickstart.ipynb", tmp_path, monkeypatch)
    text = "".join(outputs(notebook, "stream"))
    assert "['axax', 'axaxbxbx', 'cxcx']" in text
    assert "critical path: fetch('c1') → concatenate(" in text
    assert "processed_data" in text
    svgs = outputs(notebook, "image/svg+xml")
    assert len(svgs) == 2
    assert "fetch(&#39;c1&#39;)" in svgs[0] or "fetch('c1')" in svgs[0]


def test_tracing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The trace file is written and the critical path is read back from its spans."""
    notebook = execute("02-tracing.ipynb", tmp_path, monkeypatch)
    text = "".join(outputs(notebook, "stream"))
    assert "15 spans: 1 run span and 14 task spans" in text
    assert "fetch('c1') → concatenate(" in text
    assert written(tmp_path, "etl-trace.jsonl").stat().st_size > 1000


@pytest.mark.dot
def test_visualization(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Options, failures, a fan-out, spawned tasks, a large run, a stored trace, Mermaid."""
    notebook = execute("03-visualization.ipynb", tmp_path, monkeypatch)
    text = "".join(outputs(notebook, "stream"))
    assert "<Run 'large' finished tasks=2100 ok=2100>" in text
    assert "failed=1 upstream_failed=1" in text
    svgs = outputs(notebook, "image/svg+xml")
    assert len(svgs) == 6
    assert "ValueError" in svgs[1]
    # 30 fetches → 30 parses → store: two stacks and a box.
    assert svgs[2].count('class="node') == 3 and "fetch ×30" in svgs[2]
    assert svgs[3].count('class="edge spawned') == 3  # crawl a.org: 2 gets; b.org: a stack
    # 2,100 tasks drawn as one node per task name: step and layer0..layer3.
    assert svgs[4].count('class="node') == 5
    assert "layer3" in svgs[4]
    assert "flowchart LR" in text and "ValueError" in text.split("flowchart LR", 1)[1]
    assert written(tmp_path, "stored.svg").read_text().count('class="node') == 4


@pytest.mark.dot
def test_timing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Timeline, run diff and Perfetto on a pipeline with a slow dependency and a blocking step."""
    notebook = execute("04-timing.ipynb", tmp_path, monkeypatch)
    text = "".join(outputs(notebook, "stream"))
    assert "critical path moved: True" in text
    assert re.search(r"parse#\d+ held the loop \d+ ms", text)  # the blocking step, caught
    assert "fetch('stock')" in text and "released by" in text
    assert "now:    fetch('orders') → parse(" in text
    assert "8 slices, 7 flows" in text
    assert "<Run 'layered' finished tasks=3000 ok=3000> <Timeline aggregated" in text
    svgs = outputs(notebook, "image/svg+xml")
    assert len(svgs) == 3
    assert len(re.findall(r'<g id="task-\d+"', svgs[0])) == 8
    assert len(re.findall(r'<g id="dep-\d+-\d+"', svgs[0])) == 7
    # waits=True: from each task's call to its start, split where its last upstream
    # finished: waiting for upstreams, then for the loop (the fetches' are microseconds)
    assert len(re.findall(r'<g id="wait-deps-\d+"', svgs[0])) == 8
    assert len(re.findall(r'<g id="wait-loop-\d+"', svgs[0])) == 8
    assert "3,000 tasks" in svgs[2]
    assert written(tmp_path, "slow.perfetto.json").stat().st_size > 1000
