"""Bugs found in review, each pinned by the behaviour that was wrong."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import weakref
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

import aiodag
from aiodag import Run, TaskStatus, UpstreamError, task


@task
async def slow(value: int = 1, delay: float = 0.05) -> int:
    await asyncio.sleep(delay)
    return value


@task
async def plus(a: int, b: int = 0) -> int:
    return a + b


@task
async def boom() -> int:
    await asyncio.sleep(0.005)
    raise ValueError("disk full")


def square(x: int) -> int:
    """Module-level, so a process pool can pickle it."""
    return x * x


async def test_a_refused_call_leaves_its_upstreams_and_the_run_intact() -> None:
    """A call refused for a foreign future must not stay registered with its upstreams."""
    other = asyncio.new_event_loop()
    try:
        foreign = other.create_future()
        async with Run("intact") as run:
            up = slow()
            with pytest.raises(ValueError, match="another event loop"):
                plus(up, foreign)
            dependent = plus(up, 1)
        assert await asyncio.wait_for(dependent, 2) == 2
        assert up.status == TaskStatus.OK
        assert [r.status for r in run.tasks] == ["ok", "ok"]
    finally:
        other.close()


async def test_a_plain_function_raising_stop_iteration_fails_instead_of_hanging() -> None:
    """StopIteration cannot live in a future; it becomes a RuntimeError, as in coroutines."""

    @task
    def first_line(lines: list[str]) -> str:
        return next(iter(lines))

    async with Run("stop", raise_errors=False) as run:
        h = first_line([])
    with pytest.raises(RuntimeError, match="raised StopIteration") as error:
        await asyncio.wait_for(h, 2)
    assert isinstance(error.value.__cause__, StopIteration)
    assert run.tasks[0].status == TaskStatus.FAILED


async def test_a_callable_objects_attributes_do_not_replace_the_wrappers() -> None:
    """An object with `fn` and `name` attributes is called as itself, under the given name."""

    class Retry:
        def __init__(self, fn: Any, name: str) -> None:
            self.fn = fn
            self.name = name

        async def __call__(self, x: int) -> tuple[str, int]:
            return "via Retry", self.fn(x)

    t = task(Retry(lambda x: x * 2, name="inner"), name="load")
    assert t.name == "load"
    assert await t(21) == ("via Retry", 42)


async def test_a_repeated_data_argument_and_an_exogenous_one_keep_their_kinds() -> None:
    """x passed twice plus gate as exogenous: one data edge and one exogenous edge."""
    async with Run("kinds") as run:
        x, gate = slow(1, 0), slow(2, 0)
        h = task(plus, gate)(x, x)
    assert run.task(h.id).deps == ((x.id, "data"), (gate.id, "exogenous"))


async def test_a_dependent_ending_early_is_released_by_a_long_lived_upstream() -> None:
    """Timed-out dependents of an upstream that runs on are not kept by it."""
    config = slow(1, delay=10)
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    refs = []
    for _ in range(50):
        h = task(plus, ready)(config, 1)
        refs.append(weakref.ref(h))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(h, 0.001)
        del h
    # wait_for returns as the last handle is cancelled: its cancelled first step, then
    # the settling of its end (a done-callback, which lets the engine drop it), take
    # two more loop steps.
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    gc.collect()
    assert [r for r in refs if r() is not None] == []
    assert not config._dependents
    assert not ready._callbacks  # type: ignore[attr-defined]
    config.cancel()


@pytest.mark.parametrize("count", [1, 2, 3, 8, 9, 10, 30])
async def test_an_upstream_starts_the_dependents_still_waiting_in_call_order(
    count: int,
) -> None:
    """An upstream keeps a few dependents in a tuple and more in a dict (memory): either
    way, those that left (cancelled) are let go at once, and the rest start once each, in
    the order they were called, with the upstream's value."""
    gate = asyncio.Event()
    order: list[int] = []

    @task
    async def source() -> int:
        await gate.wait()
        return 5

    @task
    async def use(value: int, i: int) -> int:
        order.append(i)
        return value + i

    up = source()
    handles = [use(up, i) for i in range(count)]
    cancelled = set(range(0, count, 3))  # the first, and every third after it
    refs = []
    for i in sorted(cancelled, reverse=True):
        handles[i].cancel()
        refs.append(weakref.ref(handles[i]))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # (their cancelled first step, then the settling of their end)
    kept = {i: h for i, h in enumerate(handles) if i not in cancelled}
    del handles
    gc.collect()
    assert [r for r in refs if r() is not None] == []  # the upstream let them go
    gate.set()
    async with asyncio.timeout(5):  # (a dependent lost would never end)
        assert [await h for h in kept.values()] == [5 + i for i in kept]
    assert order == list(kept)


def test_a_process_pool_runs_plain_functions() -> None:
    """Any concurrent.futures executor works, a process pool too (nothing unpicklable)."""

    async def main() -> int:
        with ProcessPoolExecutor(1) as pool:
            return await task(square, executor=pool)(7)

    assert asyncio.run(main()) == 49


async def test_awaiting_a_failed_task_in_a_body_is_not_a_second_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A body re-raising another task's error: logged once, one root failure, statuses agree."""

    caplog.set_level(logging.ERROR, logger="aiodag")
    with pytest.raises(ExceptionGroup) as group:
        async with Run("reraised"):
            failing = boom()
            skipped = plus(failing)

            async def reraise_failed() -> int:
                return await failing

            async def reraise_skipped() -> int:
                return await skipped

            a = task(reraise_failed)()
            b = task(reraise_skipped)()
    assert [str(e) for e in group.value.exceptions] == ["disk full"]
    assert len([r for r in caplog.records if r.name == "aiodag"]) == 1
    assert a.status == TaskStatus.FAILED
    assert b.status == TaskStatus.UPSTREAM_FAILED


async def test_awaiting_a_failed_task_in_the_run_block_raises_the_root_cause_only() -> None:
    """`await last_task` in the block: the group holds the root failure, branches finish."""
    with pytest.raises(ExceptionGroup) as group:
        async with Run("awaited") as run:
            independent = slow(5, delay=0.02)
            await plus(boom())
    assert [type(e) for e in group.value.exceptions] == [ValueError]
    assert independent.result() == 5  # not cancelled by the block's exception
    assert run.counts()[TaskStatus.UPSTREAM_FAILED] == 1


async def test_with_raise_errors_false_the_blocks_exception_still_propagates() -> None:
    """A block interrupted by a task's failure is not silently resumed."""
    with pytest.raises(UpstreamError):
        async with Run("quiet", raise_errors=False):
            await plus(boom())


async def test_an_async_function_behind_a_plain_decorator_is_awaited() -> None:
    """functools.wraps-style decorators keep an async function async."""

    def logged(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return wrapper

    @task
    @logged
    async def fetch(key: str) -> str:
        await asyncio.sleep(0)
        return key.upper()

    assert await fetch("a") == "A"
    assert await task(lambda: fetch.fn("b"))() == "B"  # a def returning a coroutine


async def test_cyclic_arguments_are_passed_without_recursion_errors() -> None:
    """A container holding itself (and a handle) is scanned and rebuilt once."""

    @task
    async def take(node: dict[str, Any]) -> tuple[int, bool]:
        return node["value"], node["self"] is node

    node: dict[str, Any] = {"name": "a"}
    node["self"] = node
    node["value"] = slow(3, 0)
    assert await take(node) == (3, True)
    plain: list[Any] = [1]
    plain.append(plain)
    assert await task(lambda x: len(x))(plain) == 2


async def test_run_records_do_not_keep_argument_values_through_tracebacks() -> None:
    """A failed task's record keeps its error, not the frames holding its arguments."""

    class Payload:
        pass

    @task
    async def process(p: Payload) -> None:
        raise ValueError("bad payload")

    async with Run("payload", raise_errors=False) as run:
        payload = Payload()
        ref = weakref.ref(payload)
        process(payload)
        del payload
    gc.collect()
    assert ref() is None
    assert isinstance(run.tasks[0].error, ValueError)


async def test_a_task_cancelled_before_it_began_is_pending_until_it_ends() -> None:
    """handle.status agrees with the record after an early cancel."""
    async with Run("early") as run:
        h = slow()
        h.cancel()
        assert h.status == TaskStatus.PENDING
        assert run.tasks[0].status == TaskStatus.PENDING
    assert h.status == TaskStatus.CANCELLED == run.tasks[0].status
    aiodag.sinks.global_slots()  # the registry is untouched


async def test_the_same_exogenous_dependency_given_twice_is_waited_for_once() -> None:
    """task(fn, h, h)() and task(task(fn, h), h)() waited for ever: the task counted
    two upstreams and was told of one end."""

    @task
    async def ready() -> None:
        return None

    @task
    async def cleanup() -> str:
        return "done"

    h = ready()
    async with asyncio.timeout(5):
        assert await task(cleanup, h, h)() == "done"
        assert await task(task(cleanup, h), h)() == "done"
