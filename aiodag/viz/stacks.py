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
    ups: list[list[tuple[int, str]]] = [[] for _ in range(n)]
    downs: list[list[tuple[int, str]]] = [[] for _ in range(n)]
    callers: list[int] = [-1] * n
    spawned: list[list[int]] = [[] for _ in range(n)]
    for i, task in enumerate(tasks):
        for upstream, kind in task.deps:
            j = index.get(upstream)
            if j is not None and j != i:
                ups[i].append((j, str(kind)))
                downs[j].append((i, str(kind)))
        caller = index.get(caller_of(task))
        if caller is not None and caller != i:
            callers[i] = caller
            spawned[caller].append(i)

    block = _renumber([(task.name,) for task in tasks])
    count = max(block, default=-1) + 1
    while True:
        block, count = _refine(block, count, ups, downs, callers, spawned)
        sizes = Counter(block)
        if all(size == 1 or size >= min_size for size in sizes.values()):
            break
        # Too small to stack: each member on its own, then refine what relates to them.
        block = _renumber([
            (b, -1) if sizes[b] == 1 or sizes[b] >= min_size else (b, i)
            for i, b in enumerate(block)
        ])
        count = max(block, default=-1) + 1
    groups: list[list[int]] = [[] for _ in range(count)]
    for i, b in enumerate(block):
        groups[b].append(i)
    return groups


def _refine(
    block: list[int],
    count: int,
    ups: list[list[tuple[int, str]]],
    downs: list[list[tuple[int, str]]],
    callers: list[int],
    spawned: list[list[int]],
) -> tuple[list[int], int]:
    """``block`` split until members of a block relate to the same blocks alike."""
    n = len(block)
    while True:
        keys = [
            (
                block[i],
                -1 if callers[i] < 0 else block[callers[i]],
                frozenset([(block[j], kind) for j, kind in ups[i]]),
                frozenset([(block[j], kind) for j, kind in downs[i]]),
                frozenset([block[j] for j in spawned[i]]),
            )
            for i in range(n)
        ]
        block = _renumber(keys)
        new_count = max(block, default=-1) + 1
        if new_count == count:  # a refinement only ever splits: unchanged means stable
            return block, count
        count = new_count


def _renumber(keys: Sequence[Hashable]) -> list[int]:
    """Block numbers for ``keys``, in order of first appearance."""
    numbers: dict[Hashable, int] = {}
    return [numbers.setdefault(key, len(numbers)) for key in keys]
