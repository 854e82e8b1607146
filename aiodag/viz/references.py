"""The calls as nodes show them: references a reader can follow.

The engine labels a call's upstream arguments ``name#id`` so labels stay short however
deep the DAG.  In a drawing:

* an upstream whose own call is short and names nothing itself is written out —
  ``concatenate(fetch('a1'), fetch('a2'))`` — one level, never nested;
* the others keep ``name#id``, and the node of that task shows ``#id``;
* several calls of one stacked fan-out read as the stack does: ``store(parse ×50)``.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence

from .model import TaskLike
from .text import shorten

__all__ = ["call_texts", "collapse_stacked"]

MAX_INLINE = 24
"""An upstream's call is shown in its dependents' labels if at most this long."""


def call_texts(
    tasks: Sequence[TaskLike],
    by_id: dict[Hashable, TaskLike],
    stack_of: dict[Hashable, int],
    max_label: int,
) -> tuple[dict[Hashable, str], set[Hashable]]:
    """Each task's call with short upstream calls written out; the ids still referred to.

    Arguments that are several calls of one stack read as the stack does:
    ``store(parse#16, parse#18, …)`` becomes ``store(parse ×50)``.
    """
    texts: dict[Hashable, str] = {}
    referenced: set[Hashable] = set()
    for task in tasks:
        text = collapse_stacked(task, by_id, stack_of)
        for upstream, _kind in task.deps:
            up = by_id.get(upstream)
            if up is None:
                continue
            token = f"{up.name}#{up.id}"
            pattern = re.compile(re.escape(token) + r"(?!\d)")
            if not pattern.search(text):
                continue
            if len(up.label) <= MAX_INLINE and not _refers(up, by_id):
                text = pattern.sub(lambda _m, up=up: up.label, text)  # type: ignore[misc]
            else:
                referenced.add(up.id)
        texts[task.id] = shorten(text, max_label)
    return texts, referenced


def collapse_stacked(
    task: TaskLike, by_id: dict[Hashable, TaskLike], stack_of: dict[Hashable, int]
) -> str:
    """``task.label`` with each run of references into one stack as ``name ×N``."""
    text = task.label
    in_stack: dict[int, list[TaskLike]] = {}
    for upstream, _kind in task.deps:
        stack = stack_of.get(upstream)
        if stack is not None and (up := by_id.get(upstream)) is not None:
            in_stack.setdefault(stack, []).append(up)
    for ups in in_stack.values():
        if len(ups) < 2:
            continue
        tokens = "|".join(re.escape(f"{up.name}#{up.id}") for up in ups)
        runs = re.compile(rf"(?:(?:{tokens})(?!\d)(?:, )?)+")
        found = runs.search(text)
        if found is None:
            continue
        head, tail = text[: found.start()], text[found.end():]
        # Later references to the same stack are said by the count: drop them.
        tail = re.sub(rf"(?:, )?(?:\w+=)?(?:{tokens})(?!\d)", "", tail)
        count = f"{ups[0].name} ×{len(ups):,}"
        if found.group().endswith(", ") and tail.strip(")") not in ("", "…"):
            count += ", "
        text = head + count + tail
        # A label the engine cut short may end in a piece of one more such reference
        # (said by the count: dropped), or of another argument (kept as "…").
        name = ups[0].name
        cut = re.search(rf"×{len(ups):,}((?:, )?([\w.]*#?\d*)…)\)$", text)
        if cut is not None:
            piece = cut.group(2)
            ours = name.startswith(piece) or re.fullmatch(rf"{re.escape(name)}#\d*", piece)
            text = text[: cut.start(1)] + ("" if ours else ", …") + ")"
    return text


def _refers(task: TaskLike, by_id: dict[Hashable, TaskLike]) -> bool:
    """Whether ``task``'s label names an upstream (so showing it would nest references)."""
    return any(
        f"{up.name}#{up.id}" in task.label
        for upstream, _kind in task.deps
        if (up := by_id.get(upstream)) is not None
    )
