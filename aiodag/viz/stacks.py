"""Finding fan-outs: sibling calls that can be drawn as one stacked node.

A fan-out such as ``[parse(fetch(url)) for url in urls]`` then ``store(*parsed)`` is,
drawn one node per call, a row of 2 × 50 nodes that says "50 times the same thing".
Calls are *siblings* when they have the same name, the same caller, and their
upstreams, dependents and spawned tasks are siblings of each other's: then the
fetches are one group, the parses another, and the drawing is
``fetch ×50 → parse ×50 → store``.

The groups are the coarsest such partition, found by partition refinement: start
from the names and split a group while its members differ in which groups they
depend on, feed, spawn or were spawned by, until nothing splits.  A group too small
to be stacked is drawn one node per call, so its members then count as groups of
their own, and refinement goes on (two ``crawl`` calls drawn apart split the
``fetch`` calls they spawned into two groups).  Each round is one pass over the
tasks and their dependencies; rounds are bounded by the depth of the DAG.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence

from .model import TaskLike, caller_of

__all__ = ["sibling_groups"]


def sibling_groups(tasks: Sequence[TaskLike], min_size: int) -> list[list[int]]:
    """The sibling groups of ``tasks``, as lists of indexes into ``tasks``.

    Every group has one member or at least ``min_size``.  Groups are ordered by their
    first member, members in call order.
    """
    n = len(tasks)
    index: dict[Hashable, int] = {task.id: i for i, task in enumerate(tasks)}
    # Links as (other task, kind) with kind 0 exogenous, 1 data, 2 spawn: a caller is
    # an "upstream" of kind 2, the tasks it spawned "downstreams" of kind 2.
    ups: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    downs: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for i, task in enumerate(tasks):
        links = [(index.get(up), 1 if str(kind) == "data" else 0) for up, kind in task.deps]
        links.append((index.get(caller_of(task)), 2))
        for j, kind in links:
            if j is not None and j != i:
                ups[i].append((j, kind))
                downs[j].append((i, kind))

    block = _renumber([task.name for task in tasks])
    while True:
        block = _refine(block, ups, downs)
        sizes = Counter(block)
        if all(size == 1 or size >= min_size for size in sizes.values()):
            break
        # Too small to stack: each member on its own, then refine what relates to them.
        block = _renumber([
            (b, -1) if sizes[b] == 1 or sizes[b] >= min_size else (b, i)
            for i, b in enumerate(block)
        ])
    groups: list[list[int]] = [[] for _ in range(max(block, default=-1) + 1)]
    for i, b in enumerate(block):
        groups[b].append(i)
    return groups


def _refine(
    block: list[int], ups: list[list[tuple[int, int]]], downs: list[list[tuple[int, int]]]
) -> list[int]:
    """``block`` split until members of a block relate to the same blocks alike."""
    count = max(block, default=-1) + 1
    while True:
        # Each link as one int (block * 3 + kind): sets of ints hash fast.
        keys = [
            (
                b,
                frozenset([block[j] * 3 + kind for j, kind in up]),
                frozenset([block[j] * 3 + kind for j, kind in down]),
            )
            for b, up, down in zip(block, ups, downs, strict=True)
        ]
        block = _renumber(keys)
        new_count = max(block, default=-1) + 1
        if new_count == count:  # a refinement only ever splits: unchanged means stable
            return block
        count = new_count


def _renumber(keys: Sequence[Hashable]) -> list[int]:
    """Block numbers for ``keys``, in order of first appearance."""
    numbers: dict[Hashable, int] = {}
    return [numbers.setdefault(key, len(numbers)) for key in keys]
