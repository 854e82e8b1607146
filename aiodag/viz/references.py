"""The calls as nodes show them: references a reader can follow.

The engine labels a call's upstream arguments ``name#id`` so labels stay short however
deep the DAG.  In a drawing:

* an upstream whose own call is short and names nothing itself is written out —
  ``concatenate(fetch('a1'), fetch('a2'))`` — one level, never nested;
* the others keep ``name#id``, and the node of that task shows ``#id``;
* several calls of one stacked fan-out read as the stack does: ``store(parse ×50)``.

Labels are scanned once for ``#<digits>``, each checked against the task's own
upstreams (the name must stand right before it), so a run of thousands of tasks
costs no regular expression per dependency.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Hashable, Sequence

from .model import TaskLike
from .text import shorten

__all__ = ["MAX_INLINE", "call_texts"]

MAX_INLINE = 24
"""An upstream's call is shown in its dependents' labels if at most this long."""

_ID = re.compile(r"#(\d+)(?!\d)")
# What precedes a dropped reference: its comma, and its keyword if it had one.
_BEFORE_DROPPED = re.compile(r"(?:, )?(?:\w+=)?$")
# A label the engine cut short ends in a piece of an argument: "…, pars…)".
_CUT_PIECE = re.compile(r", ([\w.]*)(?:#\d*)?…\)$")

Token = tuple[int, int, TaskLike]
"""Where a reference to an upstream starts and ends in a label, and that upstream."""


def call_texts(
    tasks: Sequence[TaskLike],
    by_id: dict[Hashable, TaskLike],
    stack_of: dict[Hashable, int],
    max_label: int,
) -> tuple[dict[Hashable, str], set[Hashable]]:
    """Each task's call as its node shows it, cut to ``max_label``; the ids referred to.

    ``stack_of`` maps the tasks drawn stacked to their stack.
    """
    texts: dict[Hashable, str] = {}
    referenced: set[Hashable] = set()
    for task in tasks:
        text = _rewrite(task, by_id, stack_of, referenced)
        texts[task.id] = shorten(text, max_label)
    return texts, referenced


def _tokens(task: TaskLike, by_id: dict[Hashable, TaskLike]) -> list[Token]:
    """The references to ``task``'s upstreams in its label, in order."""
    ups = {str(up.id): up for upstream, _kind in task.deps if (up := by_id.get(upstream))}
    if not ups:
        return []
    text, found = task.label, []
    for match in _ID.finditer(text):
        up = ups.get(match.group(1))
        if up is not None:
            start = match.start() - len(up.name)
            if start >= 0 and text.startswith(up.name, start):
                found.append((start, match.end(), up))
    return found


def _rewrite(task: TaskLike, by_id: dict[Hashable, TaskLike], stack_of: dict[Hashable, int],
             referenced: set[Hashable]) -> str:
    text = task.label
    tokens = _tokens(task, by_id)
    if not tokens:
        return text
    in_stack = Counter(
        stack for upstream, _kind in task.deps if (stack := stack_of.get(upstream)) is not None
    )
    out: list[str] = []
    pos = 0
    said: set[int] = set()  # stacks already written as "name ×N"
    i = 0
    while i < len(tokens):
        start, end, up = tokens[i]
        stack = stack_of.get(up.id)
        if stack is not None and in_stack[stack] > 1:
            # A run of references into one stack, "parse#2, parse#4": one "parse ×N".
            while (i + 1 < len(tokens) and stack_of.get(tokens[i + 1][2].id) == stack
                   and text[end:tokens[i + 1][0]] == ", "):
                i += 1
                end = tokens[i][1]
            before = text[pos:start]
            if stack in said:  # said by the count already: dropped, with its comma
                out.append(_BEFORE_DROPPED.sub("", before))
            else:
                out += [before, f"{up.name} ×{in_stack[stack]:,}"]
                said.add(stack)
                cut = _CUT_PIECE.match(text, end)
                if cut is not None and up.name.startswith(cut.group(1)):
                    end = len(text) - 1  # the cut piece was one more of them: ")" is left
        else:
            out.append(text[pos:start])
            if len(up.label) <= MAX_INLINE and not _tokens(up, by_id):
                out.append(up.label)
            else:
                out.append(text[start:end])
                referenced.add(up.id)
        pos = end
        i += 1
    out.append(text[pos:])
    return "".join(out)
