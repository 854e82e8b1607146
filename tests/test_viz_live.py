"""Tests for aiodag.viz.LiveSVG: the sink that keeps an SVG file up to date during a run."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import graphviz
import pytest

import aiodag
from aiodag import Event, Run, task, viz
from aiodag.viz import live as live_module
from aiodag.viz.render import pipe as real_pipe

SVG = "{http://www.w3.org/2000/svg}"


def node_classes(data: bytes) -> dict[str, set[str]]:
    """Node name -> the classes of its SVG group (status first), from an SVG file."""
    root = ET.fromstring(data)  # raises if the file were ever half-written
    classes: dict[str, set[str]] = {}
    for g in root.iter(f"{SVG}g"):
        kinds = g.get("class", "").split()
        title = g.find(f"{SVG}title")
        if kinds[:1] == ["node"] and title is not None and title.text:
            classes[title.text] = set(kinds[1:])
    return classes


def read_nodes(path: Path) -> dict[str, set[str]]:
    """The nodes of the SVG file at ``path`` (none if there is no file yet)."""
    return node_classes(path.read_bytes()) if path.exists() else {}


def file_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def wait_for_file(
    path: Path, done: Callable[[dict[str, set[str]]], bool], within: float = 10.0
) -> dict[str, set[str]]:
    """Poll ``path`` until its nodes satisfy ``done``; every read must parse."""
    deadline = time.monotonic() + within
    seen: dict[str, set[str]] = {}
    while time.monotonic() < deadline:
        seen = read_nodes(path)
        if done(seen):
            return seen
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path} never reached the expected state; last seen: {seen}")


@task
async def step(*upstream: object) -> None:
    await asyncio.sleep(0.005)


@task
async def wait_for(event: asyncio.Event) -> None:
    await event.wait()


@pytest.mark.dot
async def test_live_svg_follows_the_run(tmp_path: Path) -> None:
    """Mid-run the file shows running and pending nodes; at the end, all ok."""
    path = tmp_path / "live.svg"
    live = viz.LiveSVG(path, interval=0.02)
    ready = asyncio.Event()
    async with Run("live", sinks=[live]) as run:
        first = step()
        await first
        gate = wait_for(ready)
        after = step(first, gate)
        ids = str(first.id), str(gate.id), str(after.id)
        mid = await wait_for_file(path, lambda nodes: set(ids) <= set(nodes))
        assert mid[ids[0]] == {"ok"}
        assert mid[ids[1]] == {"running"}
        assert mid[ids[2]] == {"pending"}
        ready.set()
    await live.flush()
    final = read_nodes(path)
    assert set(final) == {str(t.id) for t in run.tasks}
    assert all("ok" in classes for classes in final.values())
    assert any("critical" in classes for classes in final.values())
    assert live.renders >= 2
    assert live.last_error is None
    # The drawing, the live page and its data; no temporary file left behind.
    assert file_names(tmp_path) == ["live.html", "live.live.js", "live.svg"]


@pytest.mark.dot
async def test_live_svg_is_throttled(tmp_path: Path) -> None:
    """With a long interval: one render when the run starts, one when it finishes."""
    path = tmp_path / "live.svg"
    live = viz.LiveSVG(path, interval=60, stack=0)
    async with Run("throttled", sinks=[live]) as run:
        handles = [step() for _ in range(20)]
        step(*handles)
        await asyncio.sleep(0.05)
    await live.flush()
    assert live.renders == 2
    final = read_nodes(path)
    assert len(final) == len(run.tasks) == 21
    assert all("ok" in classes for classes in final.values())


@pytest.mark.dot
async def test_live_svg_renders_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow `dot` runs in the sink's worker thread: each sink call stays quick."""
    threads: list[str] = []

    def slow_pipe(graph: graphviz.Digraph, fmt: str, *, quiet: bool = False) -> bytes:
        threads.append(threading.current_thread().name)
        time.sleep(0.3)
        return real_pipe(graph, fmt, quiet=quiet)

    monkeypatch.setattr(live_module, "pipe", slow_pipe)
    live = viz.LiveSVG(tmp_path / "slow.svg", interval=0)
    calls: list[float] = []

    def timed(event: Event) -> None:
        start = time.perf_counter()
        live(event)
        calls.append(time.perf_counter() - start)

    async with Run("slow", sinks=[timed]):
        for _ in range(3):
            await step()
    await live.flush()
    assert len(calls) == 2 + 3 * 3  # run start/end, and each task's three events
    assert max(calls) < 0.1  # a render takes > 0.3 s, but not on the loop
    assert threads and all(name.startswith("aiodag-viz-live") for name in threads)
    assert threading.main_thread().name not in threads
    # Only one render at a time, and the changes made meanwhile are drawn after it:
    # the first render, then the final one (queued behind it).
    assert live.renders == len(threads) == 2


@pytest.mark.dot
async def test_live_svg_never_raises_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An unwritable path: the run goes on, one error is logged and kept."""
    live = viz.LiveSVG(tmp_path / "missing-dir" / "live.svg", interval=0)
    with caplog.at_level(logging.ERROR):
        async with Run("unwritable", sinks=[live]):
            for _ in range(3):
                await step()
                await asyncio.sleep(0.05)
        await live.flush()
    viz_errors = [r for r in caplog.records if r.name == "aiodag.viz"]
    assert len(viz_errors) == 1
    assert "LiveSVG could not render" in viz_errors[0].getMessage()
    assert not [r for r in caplog.records if r.name == "aiodag"]  # the sink never raised
    assert isinstance(live.last_error, FileNotFoundError)


async def test_live_svg_without_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No `dot` on PATH: the run completes; the error says how to install Graphviz."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    live = viz.LiveSVG(tmp_path / "live.svg", interval=0)
    with caplog.at_level(logging.ERROR):
        async with Run("no-dot", sinks=[live]):
            await step()
        await live.flush()
    assert isinstance(live.last_error, viz.GraphvizNotFoundError)
    records = [r for r in caplog.records if r.name == "aiodag.viz"]
    assert len(records) == 1
    assert "apt-get install graphviz" in records[0].getMessage()
    assert records[0].exc_info is None  # the message says it all: no traceback
    assert not (tmp_path / "live.svg").exists()


@pytest.mark.dot
async def test_live_svg_as_a_global_sink(tmp_path: Path) -> None:
    """Added with add_sink, it follows the run that started last."""
    path = tmp_path / "global.svg"
    live = viz.LiveSVG(path, interval=0.01, direction="LR")
    aiodag.add_sink(live)
    try:
        async with Run("global") as run:
            await step(step())
    finally:
        aiodag.remove_sink(live)
    await live.flush()
    assert set(read_nodes(path)) == {str(t.id) for t in run.tasks}
    assert repr(live) == f"<LiveSVG {str(path)!r} idle renders={live.renders}>"


def test_live_svg_checks_its_arguments(tmp_path: Path) -> None:
    """Wrong suffix, interval or option: refused at once, not in the middle of a run."""
    with pytest.raises(ValueError, match=r"give a path ending in \.svg, got '.*live\.png'"):
        viz.LiveSVG(tmp_path / "live.png")
    with pytest.raises(ValueError, match="interval must be a number of seconds >= 0"):
        viz.LiveSVG(tmp_path / "live.svg", interval=-1)
    with pytest.raises(TypeError, match="unknown option: 'colour'"):
        viz.LiveSVG(tmp_path / "live.svg", colour="red")  # type: ignore[call-arg]
    assert repr(viz.LiveSVG(tmp_path / "live.svg")).endswith("idle renders=0>")


def test_live_page_quotes_hostile_names(tmp_path: Path) -> None:
    """A run or file name with markup cannot end the page's script or add elements."""
    from aiodag.viz.page import page_html, state_script

    svg = tmp_path / 'run<!--<script><b>"x".svg'  # (a file name cannot hold a "/")
    page = page_html(svg, name='<script>alert(1)</script> "etl"', interval=0.5).decode()
    assert page.count("<script") == 1 and page.count("</script>") == 1
    assert "<b>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'run\\u003c!--\\u003cscript>\\u003cb>\\"x\\".live.js' in page  # as JSON
    state = state_script(b'<?xml version="1.0"?>\n<svg>\xe2\x9c\x93</svg>',
                         name="</script>", running=True, version=7).decode()
    assert state.startswith(
        'aiodagLive({"name": "</script>", "running": true, "failed": 0, "version": 7'
    )
    assert '"svg": "<svg>\\u2713</svg>"' in state  # no XML declaration: inline SVG


@pytest.mark.dot
async def test_the_live_page_says_a_run_with_failed_tasks_failed(tmp_path: Path) -> None:
    """Its state counts the failed tasks; the page shows them and turns its header red."""
    live = viz.LiveSVG(tmp_path / "live.svg", interval=0)

    async def broken() -> None:
        raise ValueError("no")

    logging.getLogger("aiodag").disabled = True
    try:
        async with Run("failing", sinks=[live], raise_errors=False):
            task(broken)()
        await live.flush()
    finally:
        logging.getLogger("aiodag").disabled = False
    state = (tmp_path / "live.live.js").read_text()
    assert '"running": false, "failed": 1,' in state
    page = (tmp_path / "live.html").read_text()
    assert 'body[data-state="failed"] header' in page and '" task(s) failed"' in page
