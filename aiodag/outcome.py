"""Partial results: take an upstream's outcome instead of being skipped when it fails.

::

    @task
    async def report(results):
        ok = [r.value for r in results if r.ok]
        failed = [r.error for r in results if not r.ok]
        ...

    report([aiodag.outcome(fetch(url)) for url in urls])

A task waits for every upstream passed through :func:`outcome` as for any other, but
runs whatever became of it, and receives an :class:`Outcome` in its place: ``ok``,
``value``, ``error`` and ``status``.  Like handles, ``outcome(...)`` may be nested in
lists, tuples and dicts.

How: ``outcome(h)`` is an asyncio future that ``h``'s end always completes *with a
result* (the :class:`Outcome`), so the engine waits for it like any dependency and
never skips the task for it.  The edge ``h -> task`` is kept in the DAG (records,
traces, drawings) as a ``data`` dependency on ``h``.

A failure received this way counts as handled (see :attr:`aiodag.TaskRecord.handled`):
it stays ``failed`` in records, traces and drawings but does not fail the run, unless
it also stopped another dependent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .errors import UpstreamError, mark_handled
from .events import Dependency, DependencyKind, TaskStatus
from .labels import short_repr

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Outcome", "outcome"]

T = TypeVar("T")

_exception = asyncio.Future.exception  # the engine's reads, not the user's (is_handled)
_result = asyncio.Future.result


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What became of an upstream passed through :func:`outcome`.

    ``status`` is its final :class:`~aiodag.TaskStatus` (``ok``, ``failed``,
    ``upstream_failed`` or ``cancelled``); ``value`` its result (``None`` unless ok);
    ``error`` its exception (``None`` if ok or cancelled).
    """

    status: TaskStatus
    value: T | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True if the upstream returned (its ``value`` is its result)."""
        return self.status is TaskStatus.OK

    def __repr__(self) -> str:
        if self.ok:
            return f"Outcome(ok, value={short_repr(self.value)})"
        if self.error is not None:
            return f"Outcome({self.status}, error={type(self.error).__name__})"
        return f"Outcome({self.status})"


class OutcomeOf(asyncio.Future[Outcome[T]]):
    """The future ``outcome(upstream)`` returns: done, with an :class:`Outcome`, as soon
    as ``upstream`` is done, whatever became of it."""

    upstream: asyncio.Future[T]

    def __repr__(self) -> str:
        ref = getattr(self.upstream, "_aiodag_ref", None)
        return f"outcome({ref if ref is not None else short_repr(self.upstream)})"

    def _settle(self, upstream: asyncio.Future[T]) -> None:
        if self.done():
            return  # cancelled by someone: its dependents are cancelled already
        if upstream.cancelled():
            self.set_result(Outcome(TaskStatus.CANCELLED))
            return
        error = _exception(upstream)
        if error is None:
            self.set_result(Outcome(TaskStatus.OK, _result(upstream)))
            return
        status = (TaskStatus.UPSTREAM_FAILED if isinstance(error, UpstreamError)
                  else TaskStatus.FAILED)
        mark_handled(error)  # the dependent asked for it: it is the dependent's to deal with
        self.set_result(Outcome(status, None, error))


def outcome(upstream: asyncio.Future[T]) -> OutcomeOf[T]:
    """Pass ``upstream`` (a task handle, or any asyncio future) to a task so that the
    task runs even if ``upstream`` fails or is cancelled, and receives an
    :class:`Outcome` instead of its value.

    >>> summary(aiodag.outcome(fetch("a")), aiodag.outcome(fetch("b")))
    """
    if not isinstance(upstream, asyncio.Future):
        raise TypeError(
            f"aiodag.outcome() takes a task handle (or another asyncio future), got "
            f"{short_repr(upstream)}; pass what calling a task returned, e.g. "
            f"outcome(fetch(url))"
        )
    marker: OutcomeOf[T] = OutcomeOf(loop=upstream.get_loop())
    marker.upstream = upstream
    upstream.add_done_callback(marker._settle)
    return marker


def with_outcome_edges(
    deps: Sequence[asyncio.Future[Any]],
    dependencies: tuple[Dependency, ...],
    data: Sequence[asyncio.Future[Any]],
) -> tuple[Dependency, ...]:
    """The DAG's edges of a call, with each ``outcome(h)`` among ``deps`` (``data``:
    those that are arguments) standing as an edge from ``h`` (called when some
    dependency is not a handle: see reporting.py)."""
    extra = [fut for fut in deps if type(fut) is OutcomeOf]
    if not extra:
        return dependencies
    known = {dep.upstream_id for dep in dependencies}
    added = list(dependencies)
    for fut in extra:
        upstream_id = getattr(fut.upstream, "id", None)
        if isinstance(upstream_id, int) and hasattr(fut.upstream, "_aiodag_ref") \
                and upstream_id not in known:
            known.add(upstream_id)
            kind = DependencyKind.DATA if fut in data else DependencyKind.EXOGENOUS
            added.append(Dependency(upstream_id, kind))
    return tuple(added)
