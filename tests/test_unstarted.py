"""A handle still waiting for its upstreams is an asyncio.Task whose ``Task.__init__``
has not run: every public method of ``asyncio.Task`` must answer as for a pending task
(asyncio's own ``get_coro``/``get_context`` crash the interpreter on such an object on
some versions, so this runs each method, on every supported Python)."""

from __future__ import annotations

import asyncio
import contextvars
import io
from typing import Any

import pytest

from aiodag import task


@task
async def echo(x: int) -> int:
    return x


async def test_every_task_method_answers_for_a_waiting_handle() -> None:
    gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    h = echo(gate)
    assert h.status == "pending"
    assert h.done() is False and h.cancelled() is False
    assert h.cancelling() == 0 and h.uncancel() == 0
    assert h.get_loop() is asyncio.get_running_loop()
    assert h.get_name() == f"echo#{h.id}"
    assert h.get_coro() is None
    assert isinstance(h.get_context(), contextvars.Context)
    assert h.get_stack() == []
    out = io.StringIO()
    h.print_stack(file=out)
    assert "No stack" in out.getvalue()
    assert "waiting for 1 upstream" in repr(h)
    with pytest.raises(asyncio.InvalidStateError, match="Result is not set"):
        h.result()
    with pytest.raises(asyncio.InvalidStateError, match="Exception is not set"):
        h.exception()
    seen: list[Any] = []
    h.add_done_callback(seen.append)
    h.add_done_callback(print)
    assert h.remove_done_callback(print) == 1
    h.set_name("renamed")
    assert h.get_name() == "renamed"
    assert h in asyncio.all_tasks()
    gate.set_result(5)
    assert await h == 5
    await asyncio.sleep(0)
    assert seen == [h] and h.get_name() == "renamed"


async def test_a_waiting_handle_cancelled_ends_cancelled_with_its_callbacks() -> None:
    gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    h = echo(gate)
    seen: list[Any] = []
    h.add_done_callback(seen.append)
    assert h.cancel("stop") is True
    with pytest.raises(asyncio.CancelledError):
        await h
    assert h.cancelled() and seen == [h]
    gate.cancel()
