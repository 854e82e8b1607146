"""The command's time-axis outputs: ``timeline.svg`` and ``run.perfetto.json``.

Written after the run, beside the drawing and the trace.  Neither may cost the user
the other outputs: a failure here becomes a line saying what was not written and why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from .. import perfetto
from ..errors import exception_message
from ..runs import Run

__all__ = ["write_timing_outputs"]

logger = logging.getLogger("aiodag.cli")


def write_timing_outputs(run: Run, out: Path) -> list[str]:
    """Write the timeline and the Perfetto trace of ``run`` into ``out``; one line each."""

    def timeline() -> Path:
        from ..viz import timeline  # aiodag[timeline]: matplotlib, loaded when used

        return timeline(run, out / "timeline.svg")

    return [
        _written("perfetto trace", lambda: perfetto.write(run, out / "run.perfetto.json")),
        _written("timeline", timeline),
    ]


def _written(what: str, write: Callable[[], Path]) -> str:
    """``what: PATH`` once ``write()`` wrote it; else a line saying why not."""
    try:
        return f"{what}: {write()}"
    except Exception as exc:  # an observer never takes the other outputs down with it
        if not isinstance(exc, OSError | ImportError):  # unexpected: keep the traceback
            logger.warning("writing the %s failed", what, exc_info=True)
        return f"{what} not written: {type(exc).__name__}: {exception_message(exc)}"
