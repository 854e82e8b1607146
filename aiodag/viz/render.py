"""``render``: write a run's drawing to a file, in the format its suffix names.

Only this step needs Graphviz's ``dot`` binary (and not even for ``.dot``/``.gv``,
which are the DOT source, or ``.mmd``, a Mermaid flowchart).  When ``dot`` is missing,
:class:`GraphvizNotFoundError` says how to install it.  Files are written atomically:
a viewer that reloads the file sees the old drawing or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Unpack

import graphviz

from .graph import to_graphviz
from .mermaid import to_mermaid
from .model import RunLike
from .options import VizOptions

__all__ = ["FORMATS", "GraphvizNotFoundError", "format_of", "pipe", "render", "write_atomic"]

FORMATS: dict[str, str | None] = {
    ".svg": "svg",
    ".png": "png",
    ".pdf": "pdf",
    ".dot": None,
    ".gv": None,
    ".mmd": "mermaid",
}
"""File suffixes :func:`render` writes, with the ``dot -T`` format (``None``: DOT source;
``"mermaid"``: the Mermaid text of :func:`~aiodag.viz.to_mermaid`)."""

INSTALL_HINT = (
    "install Graphviz, which provides it: `sudo apt-get install graphviz` (Debian, "
    "Ubuntu), `sudo dnf install graphviz` (Fedora), `brew install graphviz` (macOS), "
    "`conda install -c conda-forge graphviz` (conda), or see "
    "https://graphviz.org/download/ — then check that `dot -V` runs. The DOT source "
    "needs no binary: to_graphviz(run).source, or render(run, 'pipeline.dot')"
)


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` executable, needed to render SVG, PNG or PDF, was not found."""


def render(run: RunLike, path: str | os.PathLike[str], **options: Unpack[VizOptions]) -> Path:
    """Draw ``run`` into ``path``, in the format named by its suffix; return the path.

    Suffixes: ``.svg``, ``.png``, ``.pdf`` (rendered by ``dot``), ``.dot`` or ``.gv``
    (the DOT source), ``.mmd`` (a Mermaid flowchart).  ``options`` are those of
    :func:`~aiodag.viz.to_graphviz`.

    >>> aiodag.viz.render(run, "pipeline.svg", direction="LR")
    PosixPath('pipeline.svg')

    Raises :class:`GraphvizNotFoundError` if ``dot`` is needed and not installed.
    """
    path = Path(path)
    fmt = format_of(path)
    if fmt == "mermaid":
        data = (to_mermaid(run, **options) + "\n").encode("utf-8")
    else:
        graph = to_graphviz(run, **options)
        data = graph.source.encode("utf-8") if fmt is None else pipe(graph, fmt)
    write_atomic(path, data)
    return path


def format_of(path: Path) -> str | None:
    """The ``dot -T`` format for ``path``'s suffix (``None``: DOT source, or ``"mermaid"``)."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"cannot tell the format of {str(path)!r} from its suffix {path.suffix!r} "
            f"(must be one of {list(FORMATS)})"
        )
    return FORMATS[suffix]


def pipe(graph: graphviz.Digraph, fmt: str, *, quiet: bool = False) -> bytes:
    """``graph`` rendered by ``dot`` to ``fmt``; ``quiet`` hides dot's warnings."""
    try:
        data: bytes = graph.pipe(format=fmt, quiet=quiet)
    except graphviz.ExecutableNotFound as exc:
        raise GraphvizNotFoundError(
            f"cannot render {fmt.upper()}: Graphviz's `dot` executable was not found on "
            f"PATH; {INSTALL_HINT}"
        ) from exc
    return data


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        # (or the one it replaces), so that a web server or another user can read it.
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
