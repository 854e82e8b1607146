"""The live page (``run.html`` beside LiveSVG's ``run.svg``) in a real headless Chromium.

Opened from disk (``file://``, no server) while a run goes on: two screenshots a
second apart differ, and once the run is over the page shows every task finished —
in its DOM and in its pixels.  Chromium is Debian's (installed by
``scripts/setup.sh``), driven by Playwright; without it this test fails and says so.
"""

from __future__ import annotations

import asyncio
import shutil
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest

from aiodag import Run, task, viz
from aiodag.viz.style import STATUS_FILL

pytestmark = pytest.mark.dot

WAVE = 0.6  # seconds each wave of tasks runs: statuses change more than once a second


@task
async def step(i: int, *upstream: int) -> int:
    await asyncio.sleep(WAVE)
    return i


async def _pipeline(path: Path) -> Run:
    live = viz.LiveSVG(path, interval=0.2)
    async with Run("live page", sinks=[live]) as run:
        first = [step(i) for i in range(3)]
        second = [step(10 + i, up) for i, up in enumerate(first)]
        step(30, step(20, *second))
    await live.flush()
    return run


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("this test needs Chromium ('chromium' on PATH); run `bash scripts/setup.sh`, "
                    "which installs it (Debian's package)")
    return path


def pixels(png: bytes) -> dict[tuple[int, int, int], int]:
    """How many pixels of each colour a PNG screenshot has (8-bit RGB/RGBA only)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data, header = 8, b"", b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind, body = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            data += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(data)
    stride = width * channels
    counts: dict[tuple[int, int, int], int] = {}
    previous = bytearray(stride)
    for y in range(height):
        row_start = y * (stride + 1)
        kind, row = raw[row_start], bytearray(raw[row_start + 1:row_start + 1 + stride])
        for i in range(stride):  # undo the PNG filters
            left = row[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                row[i] = (row[i] + left) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + up) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                row[i] = (row[i] + pred) & 0xFF
        for x in range(0, stride, channels):
            rgb = (row[x], row[x + 1], row[x + 2])
            counts[rgb] = counts.get(rgb, 0) + 1
        previous = row
    return counts


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = int(hex_colour.lstrip("#"), 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


def test_live_page_follows_the_run_in_chromium(tmp_path: Path) -> None:
    """While running, screenshots a second apart differ; at the end every task is ok."""
    from playwright.sync_api import sync_playwright

    svg = tmp_path / "run.svg"
    page_file = tmp_path / "run.html"
    runs: list[Run] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 900, "height": 700})
            worker = threading.Thread(target=lambda: runs.append(asyncio.run(_pipeline(svg))))
            worker.start()
            deadline = time.monotonic() + 10
            while not page_file.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            page.goto(page_file.as_uri())
            page.wait_for_function(
                "document.querySelectorAll('#drawing g.node.running').length > 0",
                timeout=10_000,
            )
            classes = "els => els.map(e => e.getAttribute('class'))"
            first = page.screenshot(path=str(tmp_path / "first.png"))
            first_nodes = page.eval_on_selector_all("#drawing g.node", classes)
            time.sleep(1.0)
            second = page.screenshot(path=str(tmp_path / "second.png"))
            second_nodes = page.eval_on_selector_all("#drawing g.node", classes)
            worker.join(timeout=30)
            page.wait_for_function("document.body.dataset.state === 'finished'", timeout=10_000)
            last = page.screenshot(path=str(tmp_path / "last.png"))
            last_nodes = page.eval_on_selector_all("#drawing g.node", classes)
        finally:
            browser.close()
    (run,) = runs
    assert first != second
    assert first_nodes != second_nodes  # the drawing itself changed, not only the clock
    assert any("running" in c for c in first_nodes)
    assert len(last_nodes) == len(run.tasks) == 8
    assert all(c.split()[1] == "ok" for c in last_nodes), last_nodes
    running, ok = rgb(STATUS_FILL["running"]), rgb(STATUS_FILL["ok"])
    assert pixels(first).get(running, 0) > 500  # running tasks, drawn blue
    at_end = pixels(last)
    assert at_end.get(running, 0) == 0  # none left
    assert at_end.get(ok, 0) > 8 * 1000  # eight green nodes
