"""The execution options of a task function, checked when it is made.

``task(retries=, retry_delay=, retry_backoff=, retry_max_delay=, retry_jitter=,
retry_on=, timeout=, limit=)`` become one immutable :class:`Controls` (``None`` when
every option is at its default), checked at once with an error that shows the bad value
and the fix; :func:`run_limit` checks a ``limit=`` (also ``Run(limit=)``) and makes its
:class:`~aiodag.limits.Limit`.  What the options do to a body is
:mod:`aiodag.controls`'s job.

A task called with none of these options never enters that module: the engine checks
one flag, :data:`in_use`, before it starts a body; it turns true, for the rest of the
process, when a task function with options or a run with a limit is made.
"""

from __future__ import annotations

import math
import random
from typing import Any, NamedTuple

from .limits import Limit

__all__ = [
    "Controls",
    "describe",
    "in_use",
    "make_controls",
    "merge_controls",
    "run_limit",
]

in_use = False
"""True once a task function with options or a Run with a ``limit`` exists: from then
on handles ask :func:`aiodag.controls.drive` to start their bodies (see ``starting.py``,
seam issue 13)."""


def _enable() -> None:
    global in_use
    in_use = True


def _number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _check(ok: bool, option: str, value: object, fix: str) -> None:
    if not ok:
        raise ValueError(f"task(): {option}={value!r} is not valid; {fix}")


class Controls(NamedTuple):
    """The execution options of one task function (immutable, checked)."""

    retries: int
    retry_delay: float
    retry_backoff: float
    retry_max_delay: float | None
    retry_jitter: float
    retry_on: tuple[type[BaseException], ...]
    timeout: float | None
    limit: Limit | None

    def delay_before(self, retry: int, rand: random.Random | None = None) -> float:
        """Seconds to sleep before retry number ``retry`` (1 for the first retry)."""
        delay = self.retry_delay * self.retry_backoff ** (retry - 1)
        if self.retry_max_delay is not None:
            delay = min(delay, self.retry_max_delay)
        if self.retry_jitter and delay:
            spread = (rand or random).uniform(-self.retry_jitter, self.retry_jitter)
            delay *= 1.0 + spread
        return delay


def make_controls(
    *,
    retries: int = 0,
    retry_delay: float = 0.0,
    retry_backoff: float = 2.0,
    retry_max_delay: float | None = None,
    retry_jitter: float = 0.1,
    retry_on: tuple[type[BaseException], ...] | type[BaseException] = (Exception,),
    timeout: float | None = None,
    limit: int | Limit | None = None,
) -> Controls | None:
    """Check the options; ``None`` when they are all at their defaults (no controls)."""
    _check(not isinstance(retries, bool) and isinstance(retries, int) and retries >= 0,
           "retries", retries, "give the number of retries after the first attempt, "
           "an int of 0 or more (e.g. retries=3)")
    _check(_number(retry_delay) and retry_delay >= 0, "retry_delay", retry_delay,
           "give the first delay in seconds, a number of 0 or more (e.g. retry_delay=0.5)")
    _check(_number(retry_backoff) and retry_backoff >= 1, "retry_backoff", retry_backoff,
           "give the factor each delay grows by, a number of 1 or more "
           "(1: constant delays, 2: doubling)")
    _check(retry_max_delay is None or (_number(retry_max_delay) and retry_max_delay >= 0),
           "retry_max_delay", retry_max_delay,
           "give the longest delay in seconds (a number of 0 or more) or None for no cap")
    _check(_number(retry_jitter) and 0 <= retry_jitter <= 1, "retry_jitter", retry_jitter,
           "give the random spread of each delay as a fraction from 0 to 1 "
           "(0.1: +-10%; 0: none)")
    if isinstance(retry_on, type):
        retry_on = (retry_on,)
    _check(isinstance(retry_on, tuple) and all(
        isinstance(kind, type) and issubclass(kind, Exception) for kind in retry_on),
        "retry_on", retry_on,
        "give a tuple of Exception subclasses, e.g. retry_on=(ConnectionError, "
        "TimeoutError); CancelledError, KeyboardInterrupt and SystemExit always end a task")
    _check(timeout is None or (_number(timeout) and timeout > 0), "timeout", timeout,
           "give the seconds one attempt may run, a number above 0, or None for no timeout")
    if not isinstance(limit, Limit):
        limit = run_limit(limit, "task(): limit")
    defaults = (retries == 0 and retry_delay == 0.0 and retry_backoff == 2.0
                and retry_max_delay is None and retry_jitter == 0.1
                and retry_on == (Exception,) and timeout is None and limit is None)
    if defaults:
        return None
    _enable()
    return Controls(retries, float(retry_delay), float(retry_backoff),
                    None if retry_max_delay is None else float(retry_max_delay),
                    float(retry_jitter), retry_on,
                    None if timeout is None else float(timeout), limit)


_DEFAULTS: dict[str, Any] = {
    "retries": 0, "retry_delay": 0.0, "retry_backoff": 2.0, "retry_max_delay": None,
    "retry_jitter": 0.1, "retry_on": (Exception,), "timeout": None, "limit": None,
}


def merge_controls(controls: Controls | None, options: dict[str, Any]) -> Controls | None:
    """``controls`` with the ``options`` given other than their defaults in place (a
    task wrapped again: ``task(fetch, ready)`` keeps fetch's options and its limit's
    slots)."""
    if controls is None:
        return make_controls(**options)
    merged = controls._asdict()
    for key, value in options.items():
        if value is not None and value != _DEFAULTS[key]:
            merged[key] = value
    return make_controls(**merged)


def describe(controls: Controls | None) -> str:
    """The options in a repr: `` retries=3 timeout=10.0 limit=4``."""
    if controls is None:
        return ""
    parts = [f"retries={controls.retries}"] if controls.retries else []
    if controls.timeout is not None:
        parts.append(f"timeout={controls.timeout:g}")
    if controls.limit is not None:
        parts.append(f"limit={controls.limit.size}")
    return "".join(" " + part for part in parts)


def run_limit(limit: object, what: str = "Run(): limit") -> Limit | None:
    """A checked ``limit=`` (``None``: no limit)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(
            f"{what}={limit!r} is not valid; give the most bodies that may run at once, "
            "an int of 1 or more (e.g. limit=4), or None for no limit"
        )
    _enable()
    return Limit(limit)
