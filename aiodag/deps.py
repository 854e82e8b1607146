"""Finding the futures among a call's arguments, and substituting their results.

A task's data dependencies are the asyncio futures (aiodag handles included) among its
arguments, also nested at any depth in plain ``list``, ``tuple`` and ``dict`` values
(exact types: a subclass such as a named tuple cannot be rebuilt faithfully, so it is
passed through untouched).  The scan runs once, at call time; the positions that hold
futures are remembered so that resolving touches only those.
"""

from __future__ import annotations

from asyncio import Future
from typing import Any

__all__ = ["ArgPlan", "plan_args", "resolve"]

_CONTAINERS = (list, tuple, dict)


def _collect(value: Any, found: list[Future[Any]]) -> bool:
    """Append the futures inside ``value`` to ``found``; True if there were any."""
    if isinstance(value, Future):
        found.append(value)
        return True
    kind = type(value)
    if kind is dict:
        hit = False
        for item in value.values():
            if _collect(item, found):
                hit = True
        return hit
    if kind is list or kind is tuple:
        hit = False
        for item in value:
            if _collect(item, found):
                hit = True
        return hit
    return False


class ArgPlan:
    """Where the futures are in one call's arguments."""

    __slots__ = ("arg_positions", "futures", "kwarg_keys", "top_level_only")

    def __init__(
        self, futures: list[Future[Any]], arg_positions: list[int], kwarg_keys: list[str]
    ) -> None:
        self.futures = futures
        self.arg_positions = arg_positions
        self.kwarg_keys = kwarg_keys
        self.top_level_only = not kwarg_keys and len(arg_positions) == len(futures)
        """Every future is itself a positional argument: the common, fast case."""


def plan_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ArgPlan | None:
    """Scan a call's arguments; ``None`` when there is no future among them."""
    found: list[Future[Any]] = []
    positions: list[int] = []
    keys: list[str] = []
    for i, arg in enumerate(args):
        if isinstance(arg, Future):
            found.append(arg)
            positions.append(i)
        elif type(arg) in _CONTAINERS and _collect(arg, found):
            positions.append(i)
    for key, arg in kwargs.items():
        if isinstance(arg, Future):
            found.append(arg)
            keys.append(key)
        elif type(arg) in _CONTAINERS and _collect(arg, found):
            keys.append(key)
    if not found:
        return None
    return ArgPlan(found, positions, keys)


def _substitute(value: Any) -> Any:
    if isinstance(value, Future):
        return value.result()
    kind = type(value)
    if kind is dict:
        return {key: _substitute(item) for key, item in value.items()}
    if kind is list:
        return [_substitute(item) for item in value]
    if kind is tuple:
        return tuple(_substitute(item) for item in value)
    return value


def resolve(
    plan: ArgPlan, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments with every future replaced by its result (all must be done)."""
    if plan.top_level_only:
        resolved = list(args)
        for i in plan.arg_positions:
            resolved[i] = resolved[i].result()
        return tuple(resolved), kwargs
    if plan.arg_positions:
        resolved = list(args)
        for i in plan.arg_positions:
            resolved[i] = _substitute(resolved[i])
        args = tuple(resolved)
    if plan.kwarg_keys:
        kwargs = dict(kwargs)
        for key in plan.kwarg_keys:
            kwargs[key] = _substitute(kwargs[key])
    return args, kwargs
