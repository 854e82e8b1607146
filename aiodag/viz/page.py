"""The live page: an HTML file beside :class:`~aiodag.viz.LiveSVG`'s SVG that shows the
drawing and refreshes itself — open it from disk (``file://``), no server, no extension.

Browsers do not let a page opened from disk read other files with ``fetch``, but they
do run scripts it includes.  So with each drawing :class:`~aiodag.viz.LiveSVG` also
writes ``NAME.live.js``, one call ``aiodagLive({...})`` carrying the SVG text and the
run's state, and the page adds a fresh ``<script>`` for it every ``interval``: a new
drawing replaces the old one in place (no flicker, the scroll position kept), its
tooltips intact.  The page goes on polling after the run has finished, so running the
pipeline again shows the new run in the same tab.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

__all__ = ["data_path", "page_html", "page_path", "state_script"]


def page_path(svg_path: Path) -> Path:
    """The page shown beside ``svg_path``: ``pipeline.svg`` → ``pipeline.html``."""
    return svg_path.with_suffix(".html")


def data_path(svg_path: Path) -> Path:
    """The script the page polls: ``pipeline.svg`` → ``pipeline.live.js``."""
    return svg_path.with_suffix(".live.js")


def state_script(svg: bytes, *, name: str, running: bool, version: int,
                 failed: int = 0) -> bytes:
    """``NAME.live.js``: the drawing (``svg``, as ``dot`` wrote it) and the run's state
    (``failed``: how many of its tasks failed so far)."""
    text = svg.decode("utf-8")
    start = text.find("<svg")  # inline SVG in HTML: no XML declaration or doctype
    state = {
        "name": name,
        "running": running,
        "failed": failed,
        "version": version,
        "updated": time.strftime("%H:%M:%S"),
        "svg": text[start:] if start >= 0 else text,
    }
    # JSON is JavaScript; the file is loaded by a <script src>, so no "</script>" issue.
    return f"aiodagLive({json.dumps(state)});\n".encode()


def page_html(svg_path: Path, *, name: str, interval: float) -> bytes:
    """The page for the drawing at ``svg_path``, polling every ``interval`` seconds."""
    # Inside the page's inline <script>: no "<" may close it, whatever the file's name.
    script = json.dumps(data_path(svg_path).name).replace("<", "\\u003c")
    every = max(int(interval * 1000), 250)
    title = html.escape(f"{name} — aiodag live view")
    return _PAGE.format(
        title=title,
        svg=html.escape(svg_path.name, quote=True),
        script=script,
        every=every,
    ).encode("utf-8")


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
  body {{ font: 14px Helvetica, Arial, sans-serif; margin: 0; color: #222; background: #fff; }}
  header {{ padding: 6px 12px; border-bottom: 1px solid #ddd; color: #555; }}
  header b {{ color: #222; }}
  body[data-state="running"] header {{ background: #e8f1fb; }}
  body[data-state="finished"] header {{ background: #edf7eb; }}
  body[data-state="failed"] header {{ background: #fbe4e1; }}
  #drawing {{ padding: 8px; }}
  #drawing svg {{ max-width: 100%; height: auto; }}
</style>
</head>
<body data-state="waiting">
<header><b id="name">aiodag</b> · <span id="state">waiting for the run to start…</span>
  · <a href="{svg}">the SVG file</a></header>
<div id="drawing"></div>
<script>
// Written by aiodag.viz.LiveSVG: this page polls {script}, which holds the drawing.
let shown = null;
function aiodagLive(state) {{
  if (state.version !== shown) {{
    shown = state.version;
    document.getElementById("drawing").innerHTML = state.svg;
  }}
  const failed = state.failed ? ", " + state.failed + " task(s) failed" : "";
  const status = state.running ? "running" : (state.failed ? "failed" : "finished");
  document.body.dataset.state = status;
  document.getElementById("name").textContent = state.name;
  document.getElementById("state").textContent =
    (state.running ? "running" + failed + ", updated " : "finished" + failed + " at ")
    + state.updated;
  document.title = state.name + " (" + status + ") — aiodag";
}}
function poll() {{
  const tag = document.createElement("script");
  tag.src = {script} + "?" + Date.now();
  tag.onload = tag.onerror = () => {{ tag.remove(); setTimeout(poll, {every}); }};
  document.head.appendChild(tag);
}}
poll();
</script>
</body>
</html>
"""
