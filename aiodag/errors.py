"""Exceptions raised by the engine."""

from __future__ import annotations

import contextlib

__all__ = ["UpstreamError", "is_task_failure"]

_FAILED_TASK = "_aiodag_failed_task"
"""Attribute set on an exception once a task has reported it as its own failure."""


class UpstreamError(Exception):
    """A task did not run because one of its dependencies failed.

    Awaiting the dependent raises this; ``__cause__`` is the upstream's own exception
    (itself an ``UpstreamError`` when the failure came from further up), so the chain
    always reaches the original error.  :attr:`root` names the task that raised it.

    >>> try:
    ...     await dependent
    ... except aiodag.UpstreamError as e:
    ...     print(e.upstream, e.root, repr(e.__cause__))
    """

    def __init__(self, task: str, upstream: str, upstream_id: int | None, root: str) -> None:
        super().__init__(task, upstream, upstream_id, root)
        self.task = task
        """``name#id`` of the task that did not run."""
        self.upstream = upstream
        """``name#id`` of the direct dependency that failed."""
        self.upstream_id = upstream_id
        """The failed dependency's task id (``None`` for a plain asyncio future)."""
        self.root = root
        """``name#id`` of the task whose own code raised."""

    def __str__(self) -> str:
        if self.root == self.upstream:
            return f"{self.task} did not run: its upstream {self.upstream} failed"
        return (
            f"{self.task} did not run: its upstream {self.upstream} did not run "
            f"because {self.root} failed"
        )


def mark_task_failure(error: BaseException, task: str) -> None:
    """Remember that ``task`` (``name#id``) reported ``error`` as its own failure."""
    # An exception type that refuses attributes is simply reported again if re-raised.
    with contextlib.suppress(Exception):
        setattr(error, _FAILED_TASK, task)


def is_task_failure(error: BaseException) -> bool:
    """True if ``error`` is a task's failure passed on: an :class:`UpstreamError`, or an
    exception some task already reported (re-raised by code that awaited that task).
    """
    return isinstance(error, UpstreamError) or hasattr(error, _FAILED_TASK)
