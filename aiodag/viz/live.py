"""``LiveSVG``: a sink that keeps an SVG file showing a run as it progresses.

Beside ``run.svg`` it writes ``run.html``, a page that shows the drawing and
refreshes itself (see :mod:`aiodag.viz.page`): open it in any browser, from disk,
and watch tasks go from pending to running to ok.  Editors that follow file changes
can show the SVG itself.

How it keeps the sink contract (called on the loop's thread; quick; never raises):

* Throttled: at most one render starts per ``interval`` seconds; events in between
  only mark the drawing stale, and a timer renders the latest state once the
  interval is over, so the file never lags the run by much more than ``interval``.
* Off the loop: the DOT source is built on the loop's thread — one consistent
  snapshot, cheap — while ``dot`` runs in a worker thread of the sink's own.  Should
  building ever get slow (a very large run), the interval stretches to at least ten
  times the building time, so the sink never takes more than a tenth of the loop.
* Atomic: each SVG (and the page's data script) goes to a temporary file that then
  replaces the old one.
* Never raises: a failing render (no ``dot``, an unwritable directory) is logged once
  on the ``aiodag.viz`` logger and kept in ``last_error``, and the run goes on.
* Final: ``RunFinished`` renders the end state at once, behind any render in flight.
  ``await live.flush()`` waits for it; a script that does not wait still gets the
  file, since Python finishes the worker's queue before it exits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Unpack

import graphviz

from ..events import Event, RunFinished, RunStarted
from .graph import to_graphviz
from .model import RunLike
from .options import Options, VizOptions
from .page import data_path, page_html, page_path, state_script
from .render import GraphvizNotFoundError, format_of, pipe, write_atomic

__all__ = ["LiveSVG"]

logger = logging.getLogger("aiodag.viz")

_BUILD_SHARE = 10
"""The interval is at least this many times the time spent building the DOT source."""


class LiveSVG:
    """A sink that re-renders ``path`` (an ``.svg`` file) as the run progresses.

    >>> live = aiodag.viz.LiveSVG("run.svg", interval=0.5, direction="LR")
    >>> async with aiodag.Run("etl", sinks=[live]):
    ...     etl_pipeline()
    >>> await live.flush()  # the final drawing is on disk

    ``interval``: the least time in seconds between two renders.  ``page``: also
    write the live page, :attr:`page_path` (``run.svg`` → ``run.html``, with its data
    in ``run.live.js``; default True).  ``options``: those of
    :func:`~aiodag.viz.to_graphviz`.  Give it to a :class:`~aiodag.Run` as one of
    its sinks; as a global sink (:func:`aiodag.add_sink`) it follows the run that
    started last.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        interval: float = 1.0,
        page: bool = True,
        **options: Unpack[VizOptions],
    ) -> None:
        self.path = Path(path)
        if format_of(self.path) != "svg":
            raise ValueError(f"LiveSVG writes SVG: give a path ending in .svg, got {str(path)!r}")
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0:
            raise ValueError(f"interval must be a number of seconds >= 0, got {interval!r}")
        Options.from_kwargs(options)  # fail now, not in the middle of the run
        self.interval = float(interval)
        self.options = options
        self.page_path: Path | None = page_path(self.path) if page else None
        """The self-refreshing HTML page showing the drawing (``None`` if ``page=False``)."""
        self.renders = 0
        """How many times the file has been written."""
        self.last_error: BaseException | None = None
        """The error of the latest render, if it failed."""
        self._run: RunLike | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._inflight: concurrent.futures.Future[None] | None = None
        self._latest: concurrent.futures.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._dirty = False
        self._last_start = -float("inf")
        self._build_seconds = 0.0
        self._logged = False

    def __repr__(self) -> str:
        state = "idle" if self._run is None else "following " + repr(self._run.name)
        return f"<LiveSVG {str(self.path)!r} {state} renders={self.renders}>"

    def __call__(self, event: Event) -> None:
        """Take one event from the engine (the sink protocol); never raises."""
        try:
            if isinstance(event, RunStarted):
                self._start(event.run)
            elif self._run is None:
                return
            elif isinstance(event, RunFinished):
                if event.run is self._run:
                    self._finish()
            else:
                self._request()
        except Exception as exc:
            self._failed(exc)

    async def flush(self) -> None:
        """Render any pending change now and wait until every render is written.

        Never raises: a failed render was logged, and its error is in :attr:`last_error`.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            if self._dirty and self._run is not None:
                self._render(final=False)
        latest = self._latest
        if latest is not None:
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(latest)

    # -- on the loop's thread ------------------------------------------------------

    def _start(self, run: RunLike) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._run = run
        self._loop = asyncio.get_running_loop()
        self._last_start = -float("inf")
        if self.page_path is not None:
            page = page_html(self.path, name=run.name, interval=min(self.interval, 1.0))
            self._submit(write_atomic, self.page_path, page)
        self._request()

    def _finish(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # Not held back by a render in flight: the single worker runs renders in
        # order, so this one is written last, even if the loop stops right after.
        self._render(final=True)
        assert self._executor is not None
        self._executor.shutdown(wait=False)  # queued renders still run
        self._executor = None
        self._run = None

    def _request(self) -> None:
        """The drawing is stale: render now, or when the interval is over."""
        self._dirty = True
        if self._inflight is not None or self._timer is not None:
            return  # the render in flight or the timer picks the change up
        interval = max(self.interval, _BUILD_SHARE * self._build_seconds)
        wait = self._last_start + interval - time.monotonic()
        if wait <= 0:
            self._render(final=False)
        else:
            assert self._loop is not None
            self._timer = self._loop.call_later(wait, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            if self._dirty and self._inflight is None and self._run is not None:
                self._render(final=False)
        except Exception as exc:
            self._failed(exc)

    def _render(self, *, final: bool) -> None:
        assert self._run is not None
        self._dirty = False
        start = time.monotonic()
        self._last_start = start
        graph = to_graphviz(self._run, **self.options)
        running = bool(self._run.running)
        failed = sum(1 for task in self._run.tasks if str(task.status) == "failed")
        self._build_seconds = time.monotonic() - start
        future = self._submit(self._write, graph, self._run.name, running, failed)
        self._latest = future
        if not final:
            self._inflight = future
        future.add_done_callback(self._done_threadsafe)

    def _submit(self, fn: Callable[..., None], *args: object) -> concurrent.futures.Future[None]:
        """Run ``fn(*args)`` in the sink's worker thread, after what is queued there."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="aiodag-viz-live"
            )
        return self._executor.submit(fn, *args)

    def _done(self, future: concurrent.futures.Future[None]) -> None:
        try:
            if future is self._inflight:
                self._inflight = None
            error = future.exception()
            if error is None:
                self.last_error = None
                self._logged = False
            else:
                self.last_error = error
                self._failed(error)
            if self._dirty and self._inflight is None and self._run is not None:
                self._request()
        except Exception as exc:
            self._failed(exc)

    def _failed(self, error: BaseException) -> None:
        if self._logged:
            return
        self._logged = True
        if isinstance(error, GraphvizNotFoundError | OSError):
            # Expected trouble (no Graphviz, an unwritable path): the message says it all.
            logger.error("LiveSVG could not render %s: %s", self.path, error)
        else:
            logger.error("LiveSVG could not render %s", self.path, exc_info=error)

    # -- in the worker thread ------------------------------------------------------

    def _write(self, graph: graphviz.Digraph, name: str, running: bool, failed: int) -> None:
        svg = pipe(graph, "svg", quiet=True)
        write_atomic(self.path, svg)
        if self.page_path is not None:
            script = state_script(svg, name=name, running=running, version=time.time_ns(),
                                  failed=failed)
            write_atomic(data_path(self.path), script)
        self.renders += 1

    def _done_threadsafe(self, future: concurrent.futures.Future[None]) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
            loop.call_soon_threadsafe(self._done, future)
