r"""Turning user-provided text into safe, short DOT label content: the one quoting module.

Everything a user controls (task labels and names, the run's name, error types and
messages) reaches the DOT source through exactly one of two doors:

* :func:`html_lines` — the body of an HTML-like label (``label=<...>``), built with
  :func:`graphviz.escape` then :func:`html.escape`, so ``<b>``, ``&`` and quotes are
  literal text, and so are backslashes: Graphviz expands ``\N`` (the node's name),
  ``\G`` and ``\E`` even inside HTML-like labels, and reads ``\\`` as ``\``;
* :func:`esc_string` — a plain attribute (``tooltip``, the graph's name), passed
  through :func:`graphviz.escape`, so ``<...>`` is not taken for HTML, then quoted by
  the graphviz package itself; backslashes and ``&``, which Graphviz re-reads in
  tooltips however they are escaped, are shown as lookalikes (``⧵``, ``＆``).

Both first :func:`clean` the text: control characters (which would end a DOT string
or be rejected by the XML parser that reads HTML-like labels) become visible escapes,
and lone surrogates, which cannot be encoded as UTF-8, become ``\udxxx``.
"""

from __future__ import annotations

import html
import re

import graphviz

__all__ = [
    "ELLIPSIS",
    "clean",
    "esc_string",
    "format_seconds",
    "format_slack",
    "html_lines",
    "one_line",
    "shorten",
    "wrap",
]

ELLIPSIS = "…"

# C0 and C1 control characters except the newline (a line break) and the tab (a space),
# plus U+FFFE and U+FFFF, which XML (hence HTML-like labels) rejects.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")


def clean(text: str) -> str:
    """``text`` with every character safe to hand to Graphviz, and nothing dropped."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return _UNPRINTABLE.sub(_escape_char, text)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """``text`` with its line breaks turned into spaces."""
    return " ".join(clean(text).split("\n"))


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in ``…`` if it was cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS


def wrap(text: str, width: int) -> list[str]:
    """Break ``text`` into lines of about ``width`` characters.

    Newlines in the text are kept as line breaks.  Elsewhere, lines break after the
    call's own ``(`` and after the commas between its arguments, never inside a nested
    call, as the seed's figure shows ``concat(a1a2,`` / ``b1b2)``; a closing ``,`` or
    ``)`` may overhang the width rather than sit alone on a line.  A longer run of
    characters is cut only when it does not fit on a line at all.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for piece in _pieces(paragraph):
            if line and len(line.rstrip()) + len(piece.rstrip(",)")) > width:
                lines.append(line.rstrip())
                line = ""
            while len(piece.rstrip(",)")) > width:
                room = width - len(line)
                lines.append(line + piece[:room])
                line, piece = "", piece[room:]
            line += piece + (" " if piece.endswith(",") else "")
        lines.append(line.rstrip())
    return lines


def _pieces(text: str) -> list[str]:
    """``text`` cut after the outermost ``(`` and after commas outside nested brackets."""
    pieces: list[str] = []
    start = depth = 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        if (char == "(" and depth == 1) or (char == "," and depth <= 1):
            pieces.append(text[start:i + 1])
            start = i + 1
    pieces.append(text[start:])
    return [piece.lstrip() if n else piece for n, piece in enumerate(pieces)]


def html_lines(lines: list[str], *, align: str = "CENTER") -> str:
    """HTML-like label content showing ``lines`` literally, one per line."""
    br = f'<BR ALIGN="{align}"/>'
    # Graphviz (2.43, measured) rejects text that begins with "]" and elements with
    # nothing in them: "]" goes as a character reference, empty text as a space.
    # A line break inside a line would be whitespace Graphviz takes for nothing: a space.
    body = br.join(
        html.escape(graphviz.escape(clean(line).replace("\n", " ")), quote=True)
        .replace("]", "&#93;")
        for line in lines
    )
    # A final <BR/> carries the alignment of the last line (Graphviz applies each
    # break's ALIGN to the line before it).
    return body + br if align != "CENTER" else body or " "


def esc_string(text: str) -> str:
    """``text`` as a plain attribute value (a tooltip, the graph's name).

    Two characters are swapped for lookalikes: Graphviz (2.43, measured) runs
    tooltips through its backslash processing twice and then keeps ``&name;``
    sequences as XML entities, so no escaping shows ``\\N`` or ``&amp;`` literally in
    every version; ``⧵`` (U+29F5) and ``＆`` (U+FF06) always do.  Newlines stay line
    breaks.
    """
    text = clean(text).translate(_TOOLTIP_LOOKALIKES)
    # graphviz.escape also marks the text as not HTML: quoting would otherwise take a
    # value that happens to look like ``<...>`` for an HTML-like label.
    result: str = graphviz.nohtml(graphviz.escape(text).replace("\n", "\\n"))
    return result


_TOOLTIP_LOOKALIKES = str.maketrans({"\\": "\u29f5", "&": "\uff06"})


def format_seconds(seconds: float) -> str:
    """A short human reading of a duration: ``850µs``, ``120ms``, ``1.5s``, ``2m05s``."""
    if seconds < 0:
        return "-" + format_seconds(-seconds)
    # Thresholds just below each unit, so 0.9999 s reads "1s", not "1000ms".
    if seconds < 0.9995e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 0.9995:
        return f"{seconds * 1e3:.0f}ms"
    if seconds < 59.95:
        return f"{seconds:.3g}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def resolution(makespan: float) -> float:
    """The finest time step the drawing of a run of ``makespan`` seconds shows.

    Times print with three significant digits at most (:func:`format_seconds`), so
    the unit of the run's longest time is the precision of the whole drawing.
    """
    if makespan < 0.9995e-3:
        return 1e-6
    if makespan < 0.9995:
        return 1e-3
    if makespan < 9.995:
        return 1e-2
    if makespan < 59.95:
        return 1e-1
    return 1.0


def format_slack(seconds: float, makespan: float) -> str:
    """A slack, ``"0"`` when below the precision the run's other times are shown with."""
    if seconds < resolution(makespan) / 2:
        return "0"
    return format_seconds(seconds)
