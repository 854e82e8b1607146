"""Task bodies on a Dask cluster: ``task(fn, executor=client)``, ``Run(executor=client)``.

::

    from distributed import Client
    client = await Client("tcp://scheduler:8786", asynchronous=True)
    async with aiodag.Run("etl", executor=client):   # every plain-def task runs there
        report(crunch(load("a")), crunch(load("b")))

The engine imports this module only when a ``distributed.Client`` is given, so
``pip install aiodag`` needs no Dask; ``pip install 'aiodag[dask]'`` brings it.

How a call goes (see :func:`submit`):

* It is submitted with the client's asyncio API and awaited on the client's event loop:
  the loop the pipeline runs on for an asynchronous client, the client's own thread's
  loop for a synchronous one.  No thread waits per call.
* Arguments are the values aiodag resolved on the coordinator, so they travel from
  here to the worker; Dask futures among them (data the user scattered, or results
  kept on the cluster) are passed through, and Dask hands the worker their values.
  Results come back to the coordinator.
* The function's own exception is raised with its type and the worker's traceback; a
  worker that died (``KilledWorker``), a call that does not pickle or a future the
  cluster cancelled end the task with :class:`~aiodag.remote.RemoteCallError` naming
  the task and the cause.  Cancelling the task's handle cancels the Dask future.
* The Dask key is ``<task name>-<random>``, so the dashboard groups calls by task.

:class:`aiodag.trace.TracingPlugin` sets tracing up on the workers, with the settings
of :func:`aiodag.trace.configure`, so spans made inside a task's function on a worker
are children of the task's span (the trace context travels with each call).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from distributed import Future
from distributed.client import FutureCancelledError

from .remote import RemoteCall, RemoteCallError, failure
from .remotehook import RemoteFacts

__all__ = ["submit"]

# Cancellations sent to the cluster, kept until sent (asyncio keeps weak references).
_cancelling: set[asyncio.Future[Any]] = set()


async def submit(
    client: Any, call: RemoteCall, args: tuple[Any, ...], kwargs: dict[str, Any],
    task: str,
) -> tuple[Any, RemoteFacts]:
    """Run ``call(args, kwargs)`` on ``client``'s cluster for ``task`` (``name#id``)."""
    name = task.rpartition("#")[0] or task
    try:
        future = client.submit(call, args, kwargs, key=f"{name}-{uuid.uuid4().hex}",
                               pure=False)
    except Exception as exc:  # it does not pickle; the client is closed
        raise failure(exc, task, "the Dask cluster") from exc
    client_loop: asyncio.AbstractEventLoop = client.loop.asyncio_loop
    loop = asyncio.get_running_loop()
    waiting: asyncio.Future[tuple[str, Any]]
    if client_loop is loop:  # an asynchronous client sharing the pipeline's loop
        waiting = asyncio.ensure_future(_settle(future))
    else:  # the client's own loop, in its thread
        waiting = asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(_settle(future), client_loop))
    try:
        outcome, value = await waiting
    except asyncio.CancelledError:
        waiting.cancel()
        _cancel(client, future, client_loop, loop)
        raise
    if outcome == "ok":
        return value  # type: ignore[no-any-return]  # (result, facts) from RemoteCall
    if outcome == "cancelled":
        raise RemoteCallError(
            task, f"was cancelled on the Dask cluster ({value}); was the client closed, "
            "or the future cancelled by other code?") from value
    error = failure(value, task, "the Dask cluster")
    if error is value:
        raise error  # the function's own exception, with the worker's traceback
    raise error from value


async def _settle(future: Future[Any]) -> tuple[str, Any]:
    """Wait for ``future`` on the client's loop: ``(outcome, result or exception)``."""
    # Dask's own cancellation is an asyncio.CancelledError subclass: told apart here
    # from the cancellation of the waiting task itself.
    try:
        return "ok", await future
    except FutureCancelledError as exc:
        return "cancelled", exc
    except Exception as exc:
        return "error", exc


def _cancel(client: Any, future: Future[Any], client_loop: asyncio.AbstractEventLoop,
            loop: asyncio.AbstractEventLoop) -> None:
    # The client's coroutine, run on its loop: a synchronous client's `cancel` would
    # block this loop for a round trip to the scheduler.
    coro = client.cancel([future], asynchronous=True)
    if client_loop is loop:
        sent: asyncio.Future[Any] = asyncio.ensure_future(coro)
    else:
        sent = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, client_loop))
    _cancelling.add(sent)
    sent.add_done_callback(_cancel_sent)


def _cancel_sent(sent: asyncio.Future[Any]) -> None:
    _cancelling.discard(sent)
    if not sent.cancelled():
        sent.exception()  # a closed client: nothing is left to cancel
