"""Exceptions raised by the engine."""

from __future__ import annotations

import contextlib
import logging

__all__ = ["UpstreamError", "exception_message", "is_handled", "is_task_failure"]

logger = logging.getLogger("aiodag")

# Attributes the engine sets on a task's exception (the exception travels to every
# place that must know its fate, so it is where that fate is kept).
_FAILED_TASK = "_aiodag_failed_task"
"""``name#id`` of the task whose body raised it (its source)."""
_HANDLED = "_aiodag_handled"
"""A task body (or a Run block) received it and then finished normally."""
_PASSED_ON = "_aiodag_passed_on"
"""It stopped a dependent, or awaiting code raised it on (a task body, a Run block)."""
_LOGGED = "_aiodag_logged"


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


def root_of(error: BaseException) -> BaseException:
    """The exception a task's body raised at the source of ``error``'s failure chain."""
    while isinstance(error, UpstreamError) and error.__cause__ is not None:
        # The engine notes the root on each UpstreamError it makes (see caused_by), so a
        # chain of any length is not walked again for every task it stopped.
        noted = error.__dict__.get("_aiodag_root")
        if noted is not None:
            return noted  # type: ignore[no-any-return]
        error = error.__cause__
    return error


def caused_by(error: UpstreamError, cause: BaseException) -> UpstreamError:
    """Chain ``error`` to ``cause`` (the upstream's failure) and note the chain's root."""
    error.__cause__ = cause
    error._aiodag_root = root_of(cause)  # type: ignore[attr-defined]
    return error


def _flag(error: BaseException, name: str) -> None:
    # An exception type that refuses attributes is treated as never handled.
    with contextlib.suppress(Exception):
        setattr(error, name, True)


def mark_handled(error: BaseException) -> None:
    """A task body, or a Run block, that received ``error`` finished normally."""
    _flag(root_of(error), _HANDLED)


def mark_passed_on(error: BaseException) -> BaseException:
    """``error`` (or the failure it carries) went on unhandled: log its root, once."""
    root = root_of(error)
    if not hasattr(root, _FAILED_TASK):
        # The root is a plain asyncio future's error: name the future as its source.
        last = error
        while isinstance(last.__cause__, UpstreamError):
            last = last.__cause__
        if isinstance(last, UpstreamError):
            mark_task_failure(root, last.upstream)
    _flag(root, _PASSED_ON)
    log_failure(root)
    return root


def is_handled(error: BaseException) -> bool:
    """True for a task failure that code received and dealt with.

    The rule: a failure is *handled* when a task body (or a :class:`~aiodag.Run`
    block) received its exception — awaited the failed handle, or read its
    ``result()``/``exception()`` — and then finished normally, and the failure never
    went further: no dependent was stopped by it, and no task body or Run block raised
    it on.  A retry loop that awaits a flaky task, catches its error and tries again
    handles each failure it caught.  Anything else (asyncio's own reads, plain asyncio
    tasks, a body that was cancelled or failed afterwards) does not handle it.
    """
    root = root_of(error)
    return getattr(root, _HANDLED, False) and not getattr(root, _PASSED_ON, False)


def log_failure(root: BaseException) -> None:
    """Log a task's failure (with its traceback) unless it was logged already."""
    source = getattr(root, _FAILED_TASK, None)
    if source is None or getattr(root, _LOGGED, False):
        return  # not a task's own failure (a plain future's), or logged already
    _flag(root, _LOGGED)
    logger.error("%s failed", source if source.startswith("<") else f"task {source}",
                 exc_info=root)


def failure_source(error: BaseException) -> str | None:
    """``name#id`` of the task whose body raised the root of ``error``, if a task did."""
    return getattr(root_of(error), _FAILED_TASK, None)


def exception_message(error: BaseException) -> str:
    """``str(error)``, or a stand-in if the exception's own ``__str__`` raises."""
    try:
        return str(error)
    except Exception:
        return "<exception str() failed>"  # as the traceback module shows it


def forget_frames(error: BaseException, code: object) -> None:
    """Clear the frames of ``code`` (a task body's, ended) in ``error``'s traceback, so
    that a kept error keeps its lines but not the argument values in those frames (#10).

    Only that code's frames: a traceback can also hold frames of code still running
    (an error raised elsewhere and passed along), and clearing a suspended frame closes
    its coroutine (3.11, 3.12); a frame still executing is left as it is.
    """
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is code:
            with contextlib.suppress(RuntimeError):  # still executing: leave it
                tb.tb_frame.clear()
        tb = tb.tb_next
