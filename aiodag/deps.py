"""Finding the futures among a call's arguments, and substituting their results.

A task's data dependencies are the asyncio futures (aiodag handles included) among its
arguments, also nested at any depth in plain ``list``, ``tuple`` and ``dict`` values
(exact types: a subclass such as a named tuple cannot be rebuilt faithfully, so it is
passed through untouched).  The scan runs once, at call time; the positions that hold
futures are remembered so that resolving touches only those.
"""

from __future__ import annotations

from asyncio import Future
from typing import Any, NamedTuple

__all__ = ["ALL_FUTURES", "ArgPlan", "plan_args", "resolve"]

_CONTAINERS = (list, tuple, dict)


def _children(value: Any) -> Any:
    return iter(value.values()) if type(value) is dict else iter(value)


def _collect(value: Any, found: list[Future[Any]]) -> bool:
    """Append the futures inside container ``value`` to ``found``; True if there were any.

    Walked with an explicit stack, not recursion, so nesting of any depth works (a
    recursive walk hit Python's recursion limit ~330 levels down, #8).  Containers
    already walked are skipped, so one that holds itself is walked once.
    """
    before = len(found)
    seen = {id(value)}
    stack = [_children(value)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, Future):
                found.append(item)
                continue
            kind = type(item)
            if (kind is dict or kind is list or kind is tuple) and id(item) not in seen:
                seen.add(id(item))
                stack.append(_children(item))
                break  # walk the inner container first: futures stay in argument order
        else:
            stack.pop()
    return len(found) > before


class ArgPlan(NamedTuple):
    """Where the futures are in one call's arguments."""

    futures: list[Future[Any]]
    """Every future found, in argument order (may repeat); empty in ALL_FUTURES, whose
    futures are the positional arguments."""
    arg_positions: list[int]
    """Positional arguments that are, or contain, futures."""
    kwarg_keys: list[str]
    """Keyword arguments that are, or contain, futures."""
    top_level_only: bool
    """Every future is itself a positional argument."""
    all_futures: bool
    """Every positional argument is a future, and no keyword argument holds one:
    the commonest case, resolved in C with ``map(Future.result, args)``."""


def plan_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ArgPlan | None:
    """Scan a call's arguments; ``None`` when there is no future among them."""
    # Hot path: written as plain loops, which beat comprehensions here.  (The
    # commonest call, every argument an upstream, is recognised by the caller first:
    # TaskFunction.__call__.)
    found: list[Future[Any]] = []
    positions: list[int] = []
    nested = False
    i = 0
    for arg in args:
        if isinstance(arg, Future):
            found.append(arg)
            positions.append(i)
        elif type(arg) in _CONTAINERS and _collect(arg, found):
            positions.append(i)
            nested = True
        i += 1
    keys: list[str] = []
    if kwargs:
        for key, arg in kwargs.items():
            if isinstance(arg, Future):
                found.append(arg)
                keys.append(key)
            elif type(arg) in _CONTAINERS and _collect(arg, found):
                keys.append(key)
    if not found:
        return None
    top_level_only = not nested and not keys
    all_futures = top_level_only and len(positions) == i
    if all_futures and not kwargs:
        return ALL_FUTURES
    return _new_plan(ArgPlan, (found, positions, keys, top_level_only, all_futures))


_new_plan = tuple.__new__  # skips NamedTuple's Python-level __new__ on the hot path

ALL_FUTURES = ArgPlan([], [], [], True, True)
"""The plan of every call whose arguments are all positional and all futures (the
commonest shape), shared: its futures are the arguments themselves, so such a call
allocates no plan at all.  Its lists are empty and never mutated."""


def _substitute(value: Any, memo: dict[int, Any]) -> Any:
    """``value`` rebuilt with futures replaced by their results.

    ``memo`` maps the containers already rebuilt to their copies, so shared containers
    are rebuilt once and cycles are rebuilt as cycles.  Like :func:`_collect`, this walks
    with an explicit stack: any depth works.
    """
    if isinstance(value, Future):
        return value.result()
    kind = type(value)
    if kind is not dict and kind is not list and kind is not tuple:
        return value
    if id(value) in memo:
        return memo[id(value)]
    # A frame: [original, its type, what is being built, iterator, key being filled].
    stack = [_open(value, kind, memo)]
    while True:
        frame = stack[-1]
        kind, out, items = frame[1], frame[2], frame[3]
        for entry in items:
            key, item = entry if kind is dict else (None, entry)
            if isinstance(item, Future):
                item = item.result()
            else:
                item_kind = type(item)
                if item_kind is dict or item_kind is list or item_kind is tuple:
                    if id(item) not in memo:
                        frame[4] = key
                        stack.append(_open(item, item_kind, memo))
                        break
                    item = memo[id(item)]
            _put(kind, out, key, item)
        else:
            stack.pop()
            done = _close(frame, memo)
            if not stack:
                return done
            parent = stack[-1]
            _put(parent[1], parent[2], parent[4], done)


def _open(value: Any, kind: type, memo: dict[int, Any]) -> list[Any]:
    out: Any
    if kind is dict:
        memo[id(value)] = out = {}
        return [value, kind, out, iter(value.items()), None]
    if kind is list:
        memo[id(value)] = out = []
        return [value, kind, out, iter(value), None]
    # A tuple can hold itself only through a list or dict; until it is rebuilt, such a
    # cycle points back at the original tuple.
    memo[id(value)] = value
    return [value, kind, [], iter(value), None]


def _put(kind: type, out: Any, key: Any, item: Any) -> None:
    if kind is dict:
        out[key] = item
    else:
        out.append(item)


def _close(frame: list[Any], memo: dict[int, Any]) -> Any:
    value, kind, out = frame[0], frame[1], frame[2]
    if kind is tuple:
        memo[id(value)] = out = tuple(out)
    return out


def resolve(
    plan: ArgPlan, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments with every future replaced by its result (all must be done)."""
    if plan.all_futures:
        return [fut.result() for fut in args], kwargs  # type: ignore[return-value]
    if plan.top_level_only:
        resolved = list(args)
        for i in plan.arg_positions:
            resolved[i] = resolved[i].result()
        return resolved, kwargs  # type: ignore[return-value]  # a list unpacks as well
    memo: dict[int, Any] = {}
    if plan.arg_positions:
        resolved = list(args)
        for i in plan.arg_positions:
            resolved[i] = _substitute(resolved[i], memo)
        args = tuple(resolved)
    if plan.kwarg_keys:
        kwargs = dict(kwargs)
        for key in plan.kwarg_keys:
            kwargs[key] = _substitute(kwargs[key], memo)
    return args, kwargs
