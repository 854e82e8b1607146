"""aiodag.viz.diff / compare: two runs matched task by task, and the drawing of the change."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from aiodag import Run, task, viz
from aiodag.cli.diffreport import diff_report

SVG = "{http://www.w3.org/2000/svg}"


def pipeline(seconds: dict[str, float], *, extra: bool = False, fail: str | None = None) -> None:
    """fetch × 3 → merge pairs → report; ``extra`` adds a task; ``fail`` makes a fetch raise."""

    @task
    async def fetch(key: str) -> str:
        await asyncio.sleep(seconds[key])
        if key == fail:
            raise ValueError(key)
        return key

    @task
    async def merge(a: str, b: str) -> str:
        await asyncio.sleep(0.005)
        return a + b

    @task
    async def report(*parts: str) -> None:
        await asyncio.sleep(0.005)

    x, y, z = fetch("x"), fetch("y"), fetch("z")
    parts = [merge(x, y), merge(y, z)]
    if extra:
        parts.append(task(asyncio.sleep, name="audit")(0.001))
    report(*parts)


async def two_runs(before: dict[str, float], after: dict[str, float],
                   **changes: object) -> tuple[Run, Run]:
    async with Run("before") as a:
        pipeline(before)
    async with Run("after", raise_errors=False) as b:
        pipeline(after, **changes)  # type: ignore[arg-type]
    return a, b


async def test_tasks_are_matched_across_runs_though_their_ids_differ() -> None:
    """Same pipeline twice: every task matched to its counterpart, all 'same'."""
    a, b = await two_runs({"x": 0.01, "y": 0.01, "z": 0.01}, {"x": 0.01, "y": 0.01, "z": 0.01})
    d = viz.compare(a, b, threshold=1.0)
    assert {t.id for t in a.tasks}.isdisjoint(t.id for t in b.tasks)
    pairs = [(item.task.label.split("#")[0], item.before.label.split("#")[0])
             for item in d.tasks if item.before is not None]
    assert all(k == v for k, v in pairs) and len(pairs) == 6
    # merge(x, y) and merge(y, z) share a label pattern; the resolved label tells them apart.
    merges = [item for item in d.tasks if item.task.name == "merge"]
    for item in merges:
        assert item.before is not None
        ups_b = [b.task(u).label for u, _ in item.task.deps]
        ups_a = [a.task(u).label for u, _ in item.before.deps]
        assert ups_a == ups_b
    assert d.counts()["same"] == 6 and d.removed == [] and not d.path_moved


async def test_slower_faster_new_and_a_moved_critical_path() -> None:
    """z much slower, x faster, one task added: each is reported, and the path moves."""
    a, b = await two_runs({"x": 0.08, "y": 0.01, "z": 0.01},
                          {"x": 0.01, "y": 0.01, "z": 0.12}, extra=True)
    # Generous limits: on a loaded machine a 10 ms sleep may take a few ms more.
    d = viz.compare(a, b, threshold=0.5, min_seconds=0.02)
    change = {item.task.label: item.change for item in d.tasks}
    assert change["fetch('z')"] == "slower" and change["fetch('x')"] == "faster"
    assert change["fetch('y')"] == "same"
    assert [item.task.name for item in d.tasks if item.change == "added"] == ["audit"]
    assert d.path_moved
    assert d.critical_before[0] == "fetch('x')" and d.critical_after[0] == "fetch('z')"
    text = diff_report(d)
    assert "critical path moved:" in text
    assert "fetch('z')" in text and "slower" in text and "new" in text
    table = text.splitlines()
    assert table.index(next(r for r in table if r.startswith("audit"))) < table.index(
        next(r for r in table if r.startswith("fetch('z')")))  # new tasks listed first


async def test_status_changes_and_removed_tasks() -> None:
    """A fetch that now fails, its dependents that did not run, a task that is gone."""
    async with Run("with-extra") as a:
        pipeline({"x": 0.01, "y": 0.01, "z": 0.01}, extra=True)
    async with Run("failing", raise_errors=False) as b:
        pipeline({"x": 0.01, "y": 0.01, "z": 0.01}, fail="z")
    d = viz.compare(a, b)
    assert [t.name for t in d.removed] == ["audit"]
    changed = {item.task.label.split("(")[0] for item in d.tasks if item.status_changed}
    assert changed == {"fetch", "merge", "report"}
    text = diff_report(d)
    assert "ok → failed" in text and "ok → upstream_failed" in text and "removed" in text


@pytest.mark.dot
async def test_the_drawing_marks_every_change(tmp_path: Path) -> None:
    """SVG node classes: slower/faster/added/removed, critical and was-critical."""
    a, b = await two_runs({"x": 0.08, "y": 0.01, "z": 0.01},
                          {"x": 0.01, "y": 0.01, "z": 0.12}, extra=True)
    path = viz.render_diff(a, b, tmp_path / "diff.svg")
    root = ET.parse(path).getroot()
    classes = {}
    for g in root.iter(f"{SVG}g"):
        names = (g.get("class") or "").split()
        if "node" in names:
            text = " ".join(t.text or "" for t in g.iter(f"{SVG}text"))
            classes[text.split(" ")[0]] = set(names)
    z = next(v for k, v in classes.items() if k.startswith("fetch('z')"))
    x = next(v for k, v in classes.items() if k.startswith("fetch('x')"))
    assert {"slower", "critical"} <= z and {"faster", "was-critical"} <= x
    assert any("added" in v for v in classes.values())
    edges = [g for g in root.iter(f"{SVG}g") if "edge" in (g.get("class") or "").split()]
    assert len(edges) == sum(len(t.deps) for t in b.tasks)
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "critical path moved" in texts and "×" in texts


def test_bad_thresholds_are_refused() -> None:
    """A negative threshold gets an error naming it."""
    with pytest.raises(ValueError, match="threshold must be a number >= 0, got -1"):
        viz.compare(Run("a"), Run("b"), threshold=-1)
