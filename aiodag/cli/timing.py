"""The command's time-axis outputs: ``timeline.svg`` and ``run.perfetto.json``.

Written after the run, beside the drawing and the trace.  Neither may cost the user
the other outputs: a failure here becomes a line saying what was not written and why.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .. import perfetto
from ..errors import exception_message
from ..runs import Run

__all__ = ["write_timing_outputs"]

logger = logging.getLogger("aiodag.cli")


def write_timing_outputs(run: Run, out: Path) -> list[str]:
    """Write the timeline and the Perfetto trace of ``run`` into ``out``; one line each."""
    lines: list[str] = []
    try:
        lines.append(f"perfetto trace: {perfetto.write(run, out / 'run.perfetto.json')}")
    except OSError as exc:
        lines.append(f"perfetto trace not written: {exc}")
    except Exception as exc:  # an observer never takes the other outputs down with it
        logger.warning("writing the Perfetto trace failed", exc_info=True)
        lines.append(f"perfetto trace not written: {type(exc).__name__}: "
                     f"{exception_message(exc)}")
    try:
        from ..viz import timeline

        lines.append(f"timeline: {timeline(run, out / 'timeline.svg')}")
    except ImportError as exc:
        lines.append(f"timeline not written: {exc}")
    except Exception as exc:  # an observer never takes the other outputs down with it
        logger.warning("drawing the timeline failed", exc_info=True)
        lines.append(f"timeline not written: {type(exc).__name__}: {exception_message(exc)}")
    return lines
