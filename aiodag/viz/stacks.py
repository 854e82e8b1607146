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

    return _Refinement(tasks, ups, downs).groups(min_size)


class _Refinement:
    """Blocks of tasks, split until every member of a block relates to the same blocks
    alike.  Work follows change: when tasks move to a new block, only their
    neighbours' signatures are computed again, and only blocks holding one of those
    are looked at; and of a block that splits, the smaller parts move (Hopcroft's
    rule), so a deep DAG costs about a pass over the tasks moved, not one pass over
    the whole DAG per level.
    """

    def __init__(self, tasks: Sequence[TaskLike], ups: list[list[tuple[int, int]]],
                 downs: list[list[tuple[int, int]]]) -> None:
        self.ups, self.downs = ups, downs
        self.block = _renumber([task.name for task in tasks])
        self.members: dict[int, list[int]] = {}
        for i, b in enumerate(self.block):
            self.members.setdefault(b, []).append(i)
        self.next_block = len(self.members)
        self.signature: list[tuple[frozenset[int], frozenset[int]]] = []

    def groups(self, min_size: int) -> list[list[int]]:
        dirty = set(range(len(self.block)))
        self.signature = [(frozenset(), frozenset())] * len(self.block)
        while True:
            self._refine(dirty)
            # Too small to stack: each member on its own, then refine what relates to them.
            small = [m for m in self.members.values() if 1 < len(m) < min_size]
            if not small:
                break
            dirty = self._move([part for members in small for part in ([i] for i in members)])
        return sorted(self.members.values())

    def _refine(self, dirty: set[int]) -> None:
        block, ups, downs, signature = self.block, self.ups, self.downs, self.signature
        while dirty:
            for i in dirty:
                # Each link as one int (block * 3 + kind): sets of ints hash fast.
                signature[i] = (
                    frozenset([block[j] * 3 + kind for j, kind in ups[i]]),
                    frozenset([block[j] * 3 + kind for j, kind in downs[i]]),
                )
            parts: list[list[int]] = []
            for b in {block[i] for i in dirty}:
                alike: dict[tuple[frozenset[int], frozenset[int]], list[int]] = {}
                for i in self.members[b]:
                    alike.setdefault(signature[i], []).append(i)
                if len(alike) > 1:
                    parts += list(alike.values())
            dirty = self._move(parts)

    def _move(self, parts: list[list[int]]) -> set[int]:
        """Give each part a block of its own, but the largest part of each old block
        keeps that block (so the fewest tasks move); return the neighbours of the
        tasks that moved."""
        block, moved = self.block, []
        seen: set[int] = set()
        for part in sorted(parts, key=len, reverse=True):
            old = block[part[0]]
            if old not in seen:
                seen.add(old)
                self.members[old] = part
                continue
            new = self.next_block
            self.next_block += 1
            self.members[new] = part
            for i in part:
                block[i] = new
            moved += part
        dirty: set[int] = set()
        for i in moved:
            dirty.update(j for j, _kind in self.ups[i])
            dirty.update(j for j, _kind in self.downs[i])
        return dirty


def _renumber(keys: Sequence[Hashable]) -> list[int]:
    """Block numbers for ``keys``, in order of first appearance."""
    numbers: dict[Hashable, int] = {}
    return [numbers.setdefault(key, len(numbers)) for key in keys]
