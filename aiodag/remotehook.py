"""The engine's one plug-in point for remote calls, and what it learns of each call.

A plain (``def``) body sent to another process or machine (:mod:`aiodag.remote`) runs
where the caller's context is not.  The engine imports no tracing library:
:mod:`aiodag.trace` installs a :class:`RemoteHook` when tracing is set up, which puts the
task span's W3C ``traceparent`` into the carrier that travels with the call, and writes
the call's :class:`RemoteFacts` (where and when it ran) on the task span (see
:mod:`aiodag.trace.propagation`).  An observer never breaks the pipeline: what a hook
raises is logged once per hook (:func:`capture`, :func:`observe`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from .errors import logger

__all__ = ["RemoteFacts", "RemoteHook", "capture", "observe", "remote_hook", "set_remote_hook"]


class RemoteFacts(NamedTuple):
    """Where and when a remote call ran.  Times are wall-clock ``time.time_ns()``
    readings, each on its own machine (on a cluster, clocks may differ a little)."""

    worker: str
    """The worker: a Dask worker's address, else ``host:pid``."""
    submitted_ns: int
    """When the coordinator sent the call."""
    started_ns: int
    """When the worker began it."""
    finished_ns: int
    """When the worker ended it."""

    @property
    def queued_s(self) -> float:
        """Seconds between sending the call and its start on the worker."""
        return max(0, self.started_ns - self.submitted_ns) / 1e9

    @property
    def running_s(self) -> float:
        """Seconds the function ran on the worker."""
        return (self.finished_ns - self.started_ns) / 1e9


class RemoteHook(Protocol):
    """The plug-in point for remote calls (one per process, see :func:`set_remote_hook`).

    ``capture`` and ``observe`` are called on the coordinator, in the task's own context
    (so the task's span is current); ``enter`` runs on the worker.  None of them may
    block.  An observer never breaks the pipeline: an exception from ``capture`` or
    ``observe`` is logged (once per hook, logger ``aiodag``) and the call goes on
    without a carrier or without its facts.
    """

    def capture(self) -> dict[str, str] | None:
        """A carrier for the calling context (e.g. ``{"traceparent": ...}``), or ``None``."""

    def observe(self, facts: RemoteFacts) -> None:
        """Note where and when a task's call ran (``facts``) on the task."""

    @property
    def enter(self) -> Callable[[dict[str, str], Callable[..., Any], tuple[Any, ...],
                                 dict[str, Any]], Any]:
        """On the worker: call ``fn(*args, **kwargs)`` inside the carrier's context.

        It travels with each call, so it must pickle: a module-level function."""


_hook: RemoteHook | None = None


def set_remote_hook(hook: RemoteHook | None) -> RemoteHook | None:
    """Install ``hook`` for every remote call from now on (``None``: none); return the
    one it replaces."""
    global _hook
    previous, _hook = _hook, hook
    return previous


def remote_hook() -> RemoteHook | None:
    """The hook installed by :func:`set_remote_hook`, if any."""
    return _hook


def capture(hook: RemoteHook) -> dict[str, str] | None:
    """``hook.capture()``, or ``None`` if it raised (logged once per hook)."""
    try:
        return hook.capture()
    except Exception:
        _hook_failed(hook, "capture")
        return None


def observe(hook: RemoteHook, facts: RemoteFacts) -> None:
    """``hook.observe(facts)``; what it raises is logged (once per hook), not raised."""
    try:
        hook.observe(facts)
    except Exception:
        _hook_failed(hook, "observe")


_warned: set[int] = set()


def _hook_failed(hook: RemoteHook, method: str) -> None:
    if id(hook) not in _warned:
        _warned.add(id(hook))
        logger.exception("remote-call hook %r failed in %s(); the pipeline goes on "
                         "(reported once per hook)", hook, method)
