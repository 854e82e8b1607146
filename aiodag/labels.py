"""Short, readable labels for task calls, such as ``fetch('a1')``.

Labels are built from shortened ``repr``s (the standard :mod:`reprlib`), so a huge or
deeply nested argument stays a few dozen characters, and an upstream task is shown as
``name#id`` rather than by its own label: a label stays short however deep the DAG.
A ``__repr__`` that raises cannot break a pipeline: it shows as ``<Type>``.
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = ["MAX_LABEL", "format_call", "short_repr"]

MAX_LABEL = 80
"""Labels longer than this are cut, ending in ``…``."""


class _ArgRepr(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 2
        self.maxstring = 24
        self.maxother = 24
        self.maxlong = 24
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = 4

    def repr1(self, x: Any, level: int) -> str:
        try:
            ref = getattr(x, "_aiodag_ref", None)
            if isinstance(ref, str):
                return ref
            return super().repr1(x, level)
        except Exception:
            return f"<{type(x).__name__}>"

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            text = repr(x)
        except Exception:
            return f"<{type(x).__name__}>"
        if len(text) > self.maxother:
            return text[: self.maxother - 1] + "…"
        return text


_repr = _ArgRepr()


def short_repr(value: object) -> str:
    """A ``repr`` of ``value`` bounded to a few dozen characters."""
    return _repr.repr(value)


def format_call(
    name: str, args: tuple[str, ...], kwargs: tuple[tuple[str, str], ...]
) -> str:
    """``name(arg, key=value)`` from already shortened argument reprs, bounded in size."""
    if kwargs:
        label = f"{name}({', '.join([*args, *[f'{key}={value}' for key, value in kwargs]])})"
    else:
        label = f"{name}({', '.join(args)})"
    if len(label) > MAX_LABEL:
        label = label[: MAX_LABEL - 2] + "…)"
    return label
