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

__all__ = ["ArgPlan", "plan_args", "resolve"]

_CONTAINERS = (list, tuple, dict)


def _collect(value: Any, found: list[Future[Any]], seen: set[int] | None = None) -> bool:
    """Append the futures inside ``value`` to ``found``; True if there were any.

    ``seen`` holds the containers already walked, so a container that holds itself
    (directly or not) is walked once.
    """
    if isinstance(value, Future):
        found.append(value)
        return True
    kind = type(value)
    if kind is not dict and kind is not list and kind is not tuple:
        return False
    if seen is None:
        seen = set()
    elif id(value) in seen:
        return False
    seen.add(id(value))
    hit = False
    for item in value.values() if kind is dict else value:
        if _collect(item, found, seen):
            hit = True
    return hit


class ArgPlan(NamedTuple):
    """Where the futures are in one call's arguments."""

    futures: list[Future[Any]]
    """Every future found, in argument order (may repeat)."""
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
    # Hot path: written as plain loops, which beat comprehensions here.
    if args and not kwargs:
        for arg in args:
            if not isinstance(arg, Future):
                break
        else:  # the commonest shape: every argument is an upstream
            return _new_plan(ArgPlan, (list(args), _EMPTY, _EMPTY, True, True))
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
    return _new_plan(ArgPlan, (found, positions, keys, top_level_only, all_futures))


_new_plan = tuple.__new__  # skips NamedTuple's Python-level __new__ on the hot path
_EMPTY: list[Any] = []  # shared, never mutated


def _substitute(value: Any, memo: dict[int, Any]) -> Any:
    """``value`` rebuilt with futures replaced by their results; ``memo`` maps the
    containers already rebuilt to their copies, so cycles are rebuilt as cycles."""
    if isinstance(value, Future):
        return value.result()
    kind = type(value)
    if kind is not dict and kind is not list and kind is not tuple:
        return value
    done = memo.get(id(value))
    if done is not None:
        return done
    if kind is dict:
        new_dict: dict[Any, Any] = {}
        memo[id(value)] = new_dict
        for key, item in value.items():
            new_dict[key] = _substitute(item, memo)
        return new_dict
    if kind is list:
        new_list: list[Any] = []
        memo[id(value)] = new_list
        new_list.extend(_substitute(item, memo) for item in value)
        return new_list
    # A tuple can hold itself only through a list or dict; until it is rebuilt, such a
    # cycle points back at the original tuple.
    memo[id(value)] = value
    memo[id(value)] = rebuilt = tuple(_substitute(item, memo) for item in value)
    return rebuilt


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
