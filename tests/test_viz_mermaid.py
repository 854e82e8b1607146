"""Tests for aiodag.viz.to_mermaid, checked by the real Mermaid parser under Node.

``tests/mermaid/parse.mjs`` runs the ``mermaid`` package from npm (pinned in
``tests/mermaid/package.json``, installed by ``scripts/setup.sh``) on our output and
reports what Mermaid understood: nodes with their shapes, classes and displayed
lines, and edges.  Without Node or those packages these tests fail, saying how to
install them: a Mermaid test that does not run Mermaid proves nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aiodag import Run, task, viz
from aiodag.cli import main
from aiodag.demo import etl_pipeline
from aiodag.viz.text import format_seconds

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs"))
import make_figures
from test_viz import HOSTILE, FakeRun, FakeTask

HARNESS = Path(__file__).resolve().parent / "mermaid"


def parse_mermaid(*texts: str) -> list[dict[str, Any]]:
    """What the real Mermaid parser makes of each text (see tests/mermaid/parse.mjs)."""
    node = shutil.which("node")
    if node is None or not (HARNESS / "node_modules" / "mermaid").is_dir():
        pytest.fail(
            "the Mermaid tests need Node.js and the npm packages in tests/mermaid "
            f"(node: {node or 'not found'}; tests/mermaid/node_modules/mermaid: "
            f"{'present' if (HARNESS / 'node_modules' / 'mermaid').is_dir() else 'missing'}); "
            "run `bash scripts/setup.sh`, which installs both"
        )
    done = subprocess.run(
        [node, str(HARNESS / "parse.mjs")], input=json.dumps(list(texts)),
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


async def _etl() -> Run:
    async with Run("etl") as run:
        etl_pipeline(0.02)
    return run


def test_etl_flowchart_as_mermaid_reads_it() -> None:
    """Every task a node with its call and numbers; every dependency an edge; path thick."""
    run = asyncio.run(_etl())
    text = viz.to_mermaid(run)
    broken = text.replace('"]', "", 1)  # the parser does reject what is not Mermaid
    parsed, rejected = parse_mermaid(text, broken)
    assert rejected["ok"] is False and "Parse error" in rejected["error"]
    assert parsed["ok"] is True, parsed
    assert parsed["type"] == "flowchart-v2"
    nodes, edges = parsed["nodes"], parsed["edges"]
    assert set(nodes) == {f"t{t.id}" for t in run.tasks}
    assert {(e["start"], e["end"]) for e in edges} == {
        (f"t{up}", f"t{t.id}") for t in run.tasks for up, _ in t.deps
    }
    critical = [t.id for t in run.critical_path()]
    pairs = set(itertools.pairwise(critical))
    for edge in edges:
        thick = (int(edge["start"][1:]), int(edge["end"][1:])) in pairs
        assert edge["stroke"] == ("thick" if thick else "normal")
    fetches = {t.label: t for t in run.tasks if t.name == "fetch"}
    a1 = fetches["fetch('a1')"]
    assert a1.duration is not None and a1.finished is not None
    assert nodes[f"t{a1.id}"]["lines"] == [
        "fetch('a1')",
        f"ran {format_seconds(a1.duration)}",
        f"ended at {format_seconds(a1.finished)}",
    ]
    ca = next(t for t in run.tasks if t.name == "concatenate")
    assert nodes[f"t{ca.id}"]["lines"][:3] == ["concatenate(", "fetch('a1'),", "fetch('a2'))"]
    assert nodes[f"t{ca.id}"]["lines"][3].startswith(f"#{ca.id} · ran ")
    for t in run.tasks:
        classes = nodes[f"t{t.id}"]["classes"]
        assert classes == (["ok", "critical"] if t.id in critical else ["ok"])
    assert text.startswith('---\ntitle: "etl: 14 tasks, makespan ')


def test_hostile_labels_stay_text() -> None:
    """Quotes, brackets, <b>, #codes, backticks, Mermaid keywords: shown as written."""
    hostile = [
        *HOSTILE,
        'x"] --> y["pwn',
        "end",
        "a --> b",
        "#quot; #35; &#60;",
        "`**markdown**`",
        "%% comment",
        "style t1 fill:#f00;",
        'click t1 "javascript:alert(1)"',
        "<script>alert(1)</script>",
        "[[x]] ((y)) {z} >w] |p|",
        "A:::ok ; B",
    ]
    tasks = [
        FakeTask(i + 1, f"n{i}", label, deps=((i, "data"),) if i else ())
        for i, label in enumerate(hostile)
    ]
    run = FakeRun('run "<b>" --> x', tasks, path=[1, 2])
    (parsed,) = parse_mermaid(viz.to_mermaid(run, max_label=80, wrap=80, timings=False))
    assert parsed["ok"] is True, parsed
    assert set(parsed["nodes"]) == {f"t{i}" for i in range(1, len(hostile) + 1)}
    assert len(parsed["edges"]) == len(hostile) - 1
    for i, label in enumerate(hostile, start=1):
        lines = parsed["nodes"][f"t{i}"]["lines"]
        assert lines[0] == label


@pytest.mark.dot
def test_fan_out_spawned_and_failures_as_mermaid_reads_them(tmp_path: Path) -> None:
    """Stacks are subroutine boxes; spawn edges dotted and labelled; errors shown;
    a run from a trace (the command's -o run.mmd) and a 100,000-task run parse too."""
    fanout = asyncio.run(make_figures.fanout_run(n=20, failing=(3,)))
    crawler = asyncio.run(make_figures.spawned_run())
    failures = asyncio.run(make_figures.failures_run())
    assert main(["demo", "--out", str(tmp_path), "--speed", "0.02"]) == 0
    assert main(["render", str(tmp_path / "trace.jsonl"), "-o", str(tmp_path / "run.mmd")]) == 0
    stored = (tmp_path / "run.mmd").read_text(encoding="utf-8")
    large = FakeRun("large", [FakeTask(i, f"step{i % 3}", f"step{i % 3}({i})",
                                       deps=((i - 3, "data"),) if i >= 3 else ())
                              for i in range(100_000)], makespan=2.0)
    results = parse_mermaid(
        viz.to_mermaid(fanout), viz.to_mermaid(crawler), viz.to_mermaid(failures), stored,
        viz.to_mermaid(large),
    )
    assert all(r["ok"] for r in results), results
    stack_fan, stack_crawl, fail, from_trace, by_name = results
    assert {n["lines"][0] for n in by_name["nodes"].values()} == {"step0", "step1", "step2"}
    assert by_name["nodes"]["n0"]["lines"][1:3] == ["33,334 tasks", "ok 33,334"]

    shapes = {n["lines"][0]: n["shape"] for n in stack_fan["nodes"].values()}
    assert shapes["fetch ×20"] == shapes["parse ×20"] == "subroutine"
    fetch = next(n for n in stack_fan["nodes"].values() if n["lines"][0] == "fetch ×20")
    assert fetch["lines"][1:3] == ["(1 failed)", "TimeoutError"]
    assert fetch["classes"][0] == "failed"
    assert [e["text"] for e in stack_fan["edges"]] == ["×20", "×20"]

    spawns = [e for e in stack_crawl["edges"] if e["text"].startswith("spawned")]
    assert sorted(e["text"] for e in spawns) == ["spawned", "spawned", "spawned ×6"]
    assert all(e["stroke"] == "dotted" for e in spawns)

    def find(call: str) -> dict[str, Any]:
        return next(n for n in fail["nodes"].values() if "".join(n["lines"]).startswith(call))

    assert find("load('bad')")["lines"][1] == "ValueError"
    assert find("load('bad')")["classes"] == ["failed"]
    assert find("publish(load('bad'))")["classes"] == ["upstream_failed"]
    assert [e["stroke"] for e in fail["edges"]].count("dotted") == 1  # the exogenous one

    assert len(from_trace["nodes"]) == 14
    assert stored.startswith('---\ntitle: "etl: 14 tasks, makespan ')


@task
async def _wait(event: asyncio.Event) -> None:
    await event.wait()


async def test_a_run_in_progress_as_mermaid() -> None:
    """Running and pending tasks get their classes; pending is dashed, nothing critical."""
    ready = asyncio.Event()
    async with Run("live") as run:
        gate = _wait(ready)
        later = task(_wait, gate)(ready)
        await asyncio.sleep(0.01)
        text = viz.to_mermaid(run)
        ready.set()
    (parsed,) = parse_mermaid(text)
    assert parsed["ok"] is True, parsed
    assert parsed["nodes"][f"t{gate.id}"]["classes"] == ["running"]
    assert parsed["nodes"][f"t{later.id}"]["classes"] == ["pending"]
    assert parsed["nodes"][f"t{later.id}"]["lines"][-1] == "waiting"
    assert "stroke-dasharray" in text and "critical" not in text
    assert "running, makespan" in text


def test_hostile_labels_render_as_written_in_chromium(tmp_path: Path) -> None:
    """Rendered by Mermaid itself in a real browser, every label shows as written.

    The parser alone does not show this: Mermaid rewrites label text after parsing,
    and the browser reads what is left as HTML.
    """
    from playwright.sync_api import sync_playwright
    from test_viz_live_page import chromium

    hostile = [*HOSTILE, 'x"] --> y["pwn', "#quot; #35; &#60; &lt;", "`**md**`", "a:b;c%%d",
               "<img src=x onerror=alert(1)>", "style t1 fill:#f00;", "end", "ü ✓ 数据 🚀"]
    tasks = [
        FakeTask(i + 1, f"n{i}", label, deps=((i, "data"),) if i else ())
        for i, label in enumerate(hostile)
    ]
    run = FakeRun('run "<b>" #1;', tasks, path=[1, 2])
    text = viz.to_mermaid(run, wrap=80, max_label=80, timings=False)
    script = HARNESS / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
    if not script.is_file():
        parse_mermaid()  # fails, saying how to install the npm packages
    page_file = tmp_path / "render.html"
    page_file.write_text(
        f'<!doctype html><meta charset="utf-8"><div id="out"></div>'
        f'<script src="{script.as_uri()}"></script><script>'
        "mermaid.initialize({startOnLoad: false});"
        f"mermaid.render('g', {json.dumps(text)})"
        ".then(r => { out.innerHTML = r.svg; document.body.dataset.done = 'ok'; })"
        ".catch(e => { out.textContent = String(e); document.body.dataset.done = 'error'; });"
        "</script>",
        encoding="utf-8",
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            page.wait_for_function("document.body.dataset.done", timeout=30_000)
            state = page.evaluate("document.body.dataset.done")
            shown = page.evaluate(
                "() => Object.fromEntries([...document.querySelectorAll('#out g.node')].map("
                "n => [n.id.match(/-(t\\d+)-\\d+$/)[1], n.querySelector('.nodeLabel').innerText]))"
            )
            injected = page.evaluate("document.querySelectorAll('#out img, #out script').length")
            title = page.evaluate("document.querySelector('#out svg').textContent")
        finally:
            browser.close()
    assert state == "ok", shown
    assert shown == {f"t{i}": label for i, label in enumerate(hostile, start=1)}
    assert injected == 0
    assert 'run "<b>" #1;: ' in title


def test_without_node_the_tests_fail_and_say_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Node.js on PATH: a failure naming what is missing and the fix, never a pass."""
    from test_viz_live_page import chromium

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match=r"node: not found.*bash scripts/setup.sh"):
        parse_mermaid("flowchart LR\n  a --> b")
    with pytest.raises(pytest.fail.Exception, match=r"needs Chromium.*bash scripts/setup.sh"):
        chromium()
