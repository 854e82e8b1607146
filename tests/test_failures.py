"""Failure and cancellation: what runs, what is raised, what is logged."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

import aiodag
from aiodag import TaskStatus, UpstreamError, task


class Boom(Exception):
    """The original error in these tests."""


@task
async def fail(msg: str = "boom") -> int:
    await asyncio.sleep(0.005)
    raise Boom(msg)


@task
async def slow(value: int, delay: float = 0.05) -> int:
    await asyncio.sleep(delay)
    return value


async def test_dependents_of_a_failure_do_not_run_and_raise_upstream_error() -> None:
    """The dependent never runs; awaiting it raises UpstreamError caused by the original."""
    ran: list[str] = []

    @task
    async def dependent(x: int) -> int:
        ran.append("dependent")
        return x

    failing = fail()
    child = dependent(failing)
    grandchild = dependent(child)
    with pytest.raises(Boom):
        await failing
    with pytest.raises(UpstreamError) as child_error:
        await child
    with pytest.raises(UpstreamError) as grandchild_error:
        await grandchild
    assert ran == []
    assert child_error.value.upstream == f"fail#{failing.id}"
    assert child_error.value.upstream_id == failing.id
    assert isinstance(child_error.value.__cause__, Boom)
    # The chain from the grandchild reaches the original error through the child.
    assert grandchild_error.value.upstream == f"dependent#{child.id}"
    assert grandchild_error.value.root == f"fail#{failing.id}"
    assert grandchild_error.value.__cause__ is child_error.value
    assert isinstance(grandchild_error.value.__cause__.__cause__, Boom)
    assert f"because fail#{failing.id} failed" in str(grandchild_error.value)


async def test_a_failed_exogenous_dependency_is_not_swallowed() -> None:
    """The seed ignores failures of exogenous dependencies; here they stop the task."""
    ran: list[str] = []

    @task
    async def after() -> None:
        ran.append("after")

    failing = fail()
    h = task(after, failing)()
    with pytest.raises(UpstreamError) as error:
        await h
    assert isinstance(error.value.__cause__, Boom)
    assert ran == []
    assert h.status == TaskStatus.UPSTREAM_FAILED


async def test_a_failure_is_logged_once_however_many_dependents(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One log record for the failure, none per dependent, no asyncio noise."""

    @task
    async def dependent(x: int) -> int:
        return x

    caplog.set_level(logging.DEBUG)
    failing = fail()
    dependents = [dependent(failing) for _ in range(3)] + [dependent(dependent(failing))]
    await asyncio.wait(dependents)
    del failing, dependents
    gc.collect()
    await asyncio.sleep(0)
    aiodag_records = [r for r in caplog.records if r.name == "aiodag"]
    assert len(aiodag_records) == 1
    assert aiodag_records[0].levelno == logging.ERROR
    assert aiodag_records[0].exc_info is not None
    assert isinstance(aiodag_records[0].exc_info[1], Boom)
    assert [r for r in caplog.records if "never retrieved" in r.getMessage()] == []


async def test_cancelling_a_dependent_leaves_a_shared_upstream_running() -> None:
    """Cancelling one dependent does not cancel the upstream another one needs."""

    @task
    async def plus_one(x: int) -> int:
        return x + 1

    shared = slow(1)
    doomed = plus_one(shared)
    survivor = plus_one(shared)
    await asyncio.sleep(0.01)
    doomed.cancel()
    assert await survivor == 2
    assert not shared.cancelled() and shared.result() == 1
    assert doomed.cancelled()


async def test_gather_cancellation_does_not_reach_shared_upstreams() -> None:
    """Even cancelling through gather (the seed's bug) leaves the upstream alone."""

    @task
    async def plus_one(x: int) -> int:
        return x + 1

    shared = slow(1)
    group = asyncio.gather(plus_one(shared), plus_one(shared))
    other = plus_one(shared)
    await asyncio.sleep(0.01)
    group.cancel()
    assert await other == 2
    assert shared.result() == 1


async def test_dependents_of_a_cancelled_task_end_cancelled_without_running() -> None:
    """A cancelled upstream cancels its dependents; their functions never run."""
    ran: list[int] = []

    @task
    async def record(x: int) -> int:
        ran.append(x)
        return x

    async with aiodag.Run("cancel") as run:
        upstream = slow(1, delay=1)
        child = record(upstream)
        grandchild = record(child)
        await asyncio.sleep(0.01)
        upstream.cancel()
    assert ran == []
    assert upstream.cancelled() and child.cancelled() and grandchild.cancelled()
    assert [r.status for r in run.tasks] == ["cancelled"] * 3
    assert [r.started is None for r in run.tasks] == [False, True, True]


async def test_a_task_cancelled_before_its_first_step_is_reported(
    recorder: aiodag.testing.RecordingSink,
) -> None:
    """Cancelled before it ever ran: its record and its sinks still hear of the end."""
    async with aiodag.Run("early", sinks=[recorder]) as run:
        h = slow(1)
        h.cancel()
    assert h.cancelled()
    assert run.tasks[0].status == "cancelled"
    assert recorder.kinds() == [
        ("RunStarted", None), ("TaskCreated", h.id), ("TaskFinished", h.id), ("RunFinished", None)
    ]


async def test_cancelling_a_running_task_is_reported_as_cancelled() -> None:
    """A task cancelled in the middle of its body ends with status cancelled."""
    async with aiodag.Run("mid") as run:
        h = slow(1, delay=1)
        await asyncio.sleep(0.01)
        assert run.tasks[0].status == "running"
        h.cancel()
    assert run.tasks[0].status == "cancelled"
    assert run.tasks[0].started is not None
