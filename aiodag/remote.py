"""Plain (``def``) task bodies sent to another process or machine: the engine's side.

A thread pool of this process runs a call as it is (:mod:`aiodag.executor`).  Any other
executor — a :class:`~concurrent.futures.ProcessPoolExecutor`, a Dask
``distributed.Client`` or its ``get_executor()`` — pickles the call, so what travels
must pickle: the function, the arguments, and a *carrier* instead of the caller's
:class:`contextvars.Context` (which never pickles).

* :class:`RemoteCall` is what travels: the function and the carrier.  On the worker it
  runs the function (inside the carrier's context, if any) and sends back the result
  with where and when it ran (a :class:`~aiodag.remotehook.RemoteFacts`).
* :class:`~aiodag.remotehook.RemoteHook` (in :mod:`aiodag.remotehook`) is the engine's
  one plug-in point for remote calls; this module re-exports it and its functions, as
  it did before they moved there.
* :func:`run_remote` sends a call and waits for it; a Dask client goes through
  :mod:`aiodag.dask`, imported only when such a client is given (the engine itself
  still imports only the standard library).
* :class:`RemoteCallError` is a call that did not run to its end on the other side for
  a reason that is not the function's own exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

from .remotehook import RemoteFacts, RemoteHook, capture, observe, remote_hook, set_remote_hook

__all__ = [
    "RemoteCall",
    "RemoteCallError",
    "RemoteFacts",
    "RemoteHook",
    "SubmitsCalls",
    "check_executor",
    "is_dask_client",
    "remote_hook",
    "run_remote",
    "set_remote_hook",
]


class SubmitsCalls(Protocol):
    """What ``task(fn, executor=...)`` accepts: anything with ``submit`` —
    a :class:`concurrent.futures.Executor` or a Dask ``distributed.Client``."""

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        """Start a call elsewhere and return its future."""


def check_executor(executor: Any, where: str) -> SubmitsCalls | None:
    """``executor`` if it can run calls (it has ``submit``), else a clear TypeError."""
    if executor is None or callable(getattr(executor, "submit", None)):
        return executor  # type: ignore[no-any-return]
    raise TypeError(
        f"{where}(): executor= must be a concurrent.futures.Executor or a Dask "
        f"distributed.Client, got {executor!r}; e.g. ProcessPoolExecutor() or "
        "Client(cluster)"
    )


class RemoteCallError(Exception):
    """A task's call did not run to its end on the other side, and the function did not
    raise: it could not be sent (the function or an argument does not pickle), its
    result could not come back, the worker died (Dask's ``KilledWorker``, a broken
    process pool), or the cluster dropped it.  ``__cause__`` is the executor's own
    exception; :attr:`task` names the task (``name#id``)."""

    def __init__(self, task: str, message: str) -> None:
        super().__init__(f"task {task} {message}")
        self.task = task
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:  # it pickles (to cross processes itself)
        return type(self), (self.task, self.message)


# The worker's facts ride on the function's own exception (its __dict__ pickles with
# it): an exception that has them came from the body; one without, from the way there.
_FACTS = "_aiodag_remote_facts"


class RemoteCall:
    """A task's call as it travels: ``call(args, kwargs)`` on the worker runs
    ``fn(*args, **kwargs)`` and returns ``(result, facts)``.

    The arguments travel beside it, not in it, so that a Dask client still finds the
    Dask futures among them and hands the worker their values without a round trip.
    """

    __slots__ = ("carrier", "enter", "fn", "submitted_ns")

    def __init__(
        self,
        fn: Callable[..., Any],
        carrier: dict[str, str] | None,
        enter: Callable[..., Any] | None,
    ) -> None:
        self.fn, self.carrier, self.enter = fn, carrier, enter
        self.submitted_ns = time.time_ns()

    def __getstate__(self) -> tuple[Any, ...]:
        return self.fn, self.carrier, self.enter, self.submitted_ns

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.fn, self.carrier, self.enter, self.submitted_ns = state

    @property
    def __name__(self) -> str:  # Dask and process pools name calls by their function
        return str(getattr(self.fn, "__name__", "call"))

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, RemoteFacts]:
        started = time.time_ns()
        try:
            if self.carrier is not None and self.enter is not None:
                result = self.enter(self.carrier, self.fn, args, kwargs)
            else:
                result = self.fn(*args, **kwargs)
        except StopIteration as exc:
            # A future cannot hold a StopIteration (see aiodag.executor); PEP 479's way.
            error = RuntimeError(f"{self.__name__!r} raised StopIteration")
            error.__cause__ = exc
            _attach(error, self._facts(started))
            raise error from exc
        except BaseException as exc:
            _attach(exc, self._facts(started))
            raise
        return result, self._facts(started)

    def _facts(self, started: int) -> RemoteFacts:
        return RemoteFacts(_where(), self.submitted_ns, started, time.time_ns())


def _attach(error: BaseException, facts: RemoteFacts) -> None:
    # (An exception type without a __dict__ refuses: it is then told apart as not
    # the function's own -- a rare misreport rather than a failure here.)
    with contextlib.suppress(AttributeError, TypeError):
        setattr(error, _FACTS, facts)


def facts_of(error: BaseException) -> RemoteFacts | None:
    """The worker's facts an exception raised by the function carries (else ``None``)."""
    facts = getattr(error, _FACTS, None)
    return facts if isinstance(facts, RemoteFacts) else None


def _where() -> str:
    # On a Dask worker: its address.  `distributed` is loaded there already; looking
    # it up in sys.modules keeps this module free of the import.
    distributed = sys.modules.get("distributed")
    if distributed is not None:
        try:
            return str(distributed.get_worker().address)
        except ValueError:  # not inside a Dask worker
            pass
    return f"{socket.gethostname()}:{os.getpid()}"


def is_dask_client(executor: object) -> bool:
    """True for a Dask ``distributed.Client`` (without importing Dask: a client exists
    only if ``distributed`` was imported)."""
    distributed = sys.modules.get("distributed")
    return distributed is not None and isinstance(executor, distributed.Client)


async def run_remote(
    executor: SubmitsCalls,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    task: str,
    not_begun: Callable[[], object] | None = None,
) -> Any:
    """Run ``fn(*args, **kwargs)`` on ``executor`` for the task ``task`` (``name#id``).

    Returns the result; raises the function's own exception as it was raised there, or
    a :class:`RemoteCallError` naming the task and the cause.  Cancelling the waiting
    task cancels the call where the executor can (a Dask future; a process pool's
    call that has not begun: then ``not_begun()`` is called, before the
    cancellation propagates).
    """
    args = tuple(args)  # (the engine may hand over an iterator of resolved values)
    hook = remote_hook()
    carrier = capture(hook) if hook is not None else None
    call = RemoteCall(fn, carrier, hook.enter if carrier is not None and hook else None)
    if is_dask_client(executor):
        from . import dask  # the Dask side, only when a Dask client is given

        result, facts = await dask.submit(executor, call, args, kwargs, task)
    else:
        loop = asyncio.get_running_loop()
        # (As loop.run_in_executor does, keeping the submitted call: whether cancelling
        # it stopped it before it began is known only from it.)
        submitted = executor.submit(call, args, kwargs)
        try:
            result, facts = await asyncio.wrap_future(submitted, loop=loop)
        except asyncio.CancelledError:
            # Cancelling the asyncio future cancelled the call first (its callback
            # comes before this task's wake-up): cancelled means it never began.
            if not_begun is not None and submitted.cancelled():
                not_begun()
            raise
        except Exception as exc:
            error = failure(exc, task, type(executor).__name__)
            if error is exc:
                raise  # the function's own exception, as it was raised there
            raise error from exc
    if hook is not None:
        observe(hook, facts)
    return result


def failure(error: Exception, task: str, where: str) -> BaseException:
    """What a task raises for ``error`` from its remote call: the function's own
    exception as it is (its facts noted on the task), else a :class:`RemoteCallError`
    (the caller raises it ``from error``)."""
    facts = facts_of(error)
    if facts is not None:
        hook = remote_hook()
        if hook is not None:
            observe(hook, facts)
        return error
    cause = _innermost(error)
    reason = f"{type(cause).__name__}: {cause}"
    if _is_pickling(cause):
        message = (
            f"could not be sent to or back from {where}: {reason}. The function, its "
            "arguments and its result must pickle; pass data the worker can load "
            "(a path, a key) instead of open files, locks or connections"
        )
    else:
        message = f"did not run to its end on {where}: {reason}"
    return RemoteCallError(task, message)


def _innermost(error: BaseException) -> BaseException:
    # Dask wraps a pickling error in "Could not serialize object of type ...": the
    # innermost cause says what did not pickle.
    seen: set[int] = set()
    while error.__cause__ is not None and id(error) not in seen:
        seen.add(id(error))
        if type(error.__cause__).__name__ == "_RemoteTraceback":  # a process pool's text
            break
        error = error.__cause__
    return error


def _is_pickling(error: BaseException) -> bool:
    text = str(error).lower()
    return "pickl" in text or "serializ" in text
