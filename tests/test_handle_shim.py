"""The shim that makes CPython's asyncio tests use aiodag handles (handle_shim.py)."""

from __future__ import annotations

import asyncio
import gc

import pytest
from handle_shim import HandleTask, handle_task_factory

from aiodag import TaskHandle


async def answer() -> int:
    await asyncio.sleep(0)
    return 42


def test_a_shim_task_is_a_handle_whose_body_is_the_given_coroutine() -> None:
    loop = asyncio.new_event_loop()
    try:
        t = HandleTask(answer(), loop=loop, name="the answer")  # the loop is not running
        assert type(t) is TaskHandle and isinstance(t, HandleTask)
        assert issubclass(TaskHandle, HandleTask)
        assert t.get_loop() is loop and t.get_name() == "the answer"
        assert t.name == "answer"  # aiodag's task name follows the coroutine's
        assert loop.run_until_complete(t) == 42
    finally:
        loop.close()


def test_a_shim_task_refuses_what_asyncio_task_refuses() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(TypeError, match="a coroutine was expected, got 123"):
            HandleTask(123, loop=loop)  # type: ignore[arg-type]
    finally:
        loop.close()


def test_the_task_factory_makes_handles_for_create_task() -> None:
    loop = asyncio.new_event_loop()
    loop.set_task_factory(handle_task_factory)

    async def main() -> tuple[object, object]:
        made = asyncio.create_task(answer(), name="made")
        async with asyncio.TaskGroup() as tg:
            grouped = tg.create_task(answer())
        assert await made == 42 and made.get_name() == "made"
        return asyncio.current_task(), grouped

    try:
        current, grouped = loop.run_until_complete(main())
    finally:
        loop.close()
    assert isinstance(current, TaskHandle) and isinstance(grouped, TaskHandle)


def test_a_shim_task_cancelled_before_it_began_closes_its_coroutine() -> None:
    """asyncio's first step would close it; it must not warn 'never awaited' (an error
    here: filterwarnings=error turns the finalizer's warning into a failure)."""
    loop = asyncio.new_event_loop()
    try:
        coro = answer()
        t = HandleTask(coro, loop=loop)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            loop.run_until_complete(t)
        del t
        gc.collect()
        assert coro.cr_frame is None  # closed
    finally:
        loop.close()
