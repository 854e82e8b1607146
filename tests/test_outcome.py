"""aiodag.outcome(): a task takes its upstreams' outcomes instead of being skipped."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import aiodag
from aiodag import Outcome, Run, TaskStatus, UpstreamError, outcome, task
from aiodag.events import DependencyKind, TaskCreated
from aiodag.testing import RecordingSink


@task
async def value(x: int) -> int:
    await asyncio.sleep(0.001)
    return x


@task
async def boom(message: str = "boom") -> int:
    await asyncio.sleep(0.001)
    raise ValueError(message)


@task
async def collect(*outcomes: Any, **named: Any) -> Any:
    return outcomes, named


async def test_a_failed_upstream_arrives_as_an_outcome() -> None:
    """The dependent runs and receives ok and failed outcomes; the run does not fail."""
    async with Run("r") as run:
        good, bad = value(1), boom()
        handle = collect(outcome(good), outcome(bad))
    (ok, failed), _ = handle.result()
    assert (ok.ok, ok.value, ok.error, ok.status) == (True, 1, None, TaskStatus.OK)
    assert (failed.ok, failed.value, failed.status) == (False, None, TaskStatus.FAILED)
    assert isinstance(failed.error, ValueError)
    assert run.task(handle.id).status is TaskStatus.OK
    assert run.task(bad.id).status is TaskStatus.FAILED
    assert run.task(bad.id).handled
    assert run.failures == []


async def test_outcomes_nest_in_lists_and_dicts() -> None:
    """Like handles, outcome() works inside list, tuple and dict arguments."""
    async with Run("r"):
        handle = collect([outcome(value(1)), outcome(boom("x"))],
                         by_key={"a": (outcome(value(2)),)})
    (items,), named = handle.result()
    assert [o.ok for o in items] == [True, False]
    assert named["by_key"]["a"][0].value == 2


async def test_an_upstream_that_did_not_run_or_was_cancelled() -> None:
    """upstream_failed and cancelled upstreams arrive with their status."""
    async with Run("r", raise_errors=False) as run:
        skipped = value(boom())
        slow = task(value, asyncio.ensure_future(asyncio.sleep(10)))(1)
        slow.cancel()
        handle = collect(outcome(skipped), outcome(slow))
    (not_run, cancelled), _ = handle.result()
    assert not_run.status is TaskStatus.UPSTREAM_FAILED
    assert isinstance(not_run.error, UpstreamError)
    assert (cancelled.status, cancelled.error, cancelled.ok) == (TaskStatus.CANCELLED, None, False)
    assert run.task(handle.id).status is TaskStatus.OK
    # The root failure stopped `skipped`: it went on unhandled, so the run reports it.
    assert [str(e) for e in run.failures] == ["boom"]


async def test_the_dag_keeps_the_edge_from_the_upstream() -> None:
    """outcome(h) is recorded (record, TaskCreated) as a data dependency on h."""
    sink = RecordingSink()
    async with Run("r", sinks=[sink]) as run:
        up = boom()
        other = value(2)
        handle = collect(outcome(up), other)
    expected = ((up.id, DependencyKind.DATA), (other.id, DependencyKind.DATA))
    assert set(run.task(handle.id).deps) == set(expected)
    created = next(e for e in sink.events
                   if isinstance(e, TaskCreated) and e.task_id == handle.id)
    assert set(created.deps) == set(expected)
    assert run.task(handle.id).label == f"collect(outcome(boom#{up.id}), value#{other.id})"


async def test_outcome_as_an_exogenous_dependency() -> None:
    """task(fn, outcome(h)): waits for h, runs whatever became of it."""
    async with Run("r") as run:
        up = boom()
        handle = task(value, outcome(up))(3)
    assert handle.result() == 3
    assert run.task(handle.id).deps == ((up.id, DependencyKind.EXOGENOUS),)


async def test_a_failure_also_stopping_another_dependent_fails_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Handled only where it was taken as an outcome: a dependent it stopped counts."""
    with caplog.at_level(logging.ERROR, logger="aiodag"):
        async with Run("r", raise_errors=False) as run:
            up = boom()
            collect(outcome(up))
            value(up)
    assert [str(e) for e in run.failures] == ["boom"]
    assert not run.task(up.id).handled


async def test_outside_a_run() -> None:
    """Outcomes work for tasks called from plain asyncio code too."""
    result = await collect(outcome(boom()))
    assert not result[0][0].ok


def test_outcome_refuses_what_is_not_a_future() -> None:
    """A plain value (or a coroutine) is refused with the fix."""
    with pytest.raises(TypeError, match=r"takes a task handle .* got 42; pass what calling"):
        outcome(42)  # type: ignore[arg-type]


def test_outcome_repr_and_exports() -> None:
    """Outcome prints its status; the names are exported from aiodag."""
    assert repr(Outcome(TaskStatus.OK, 3)) == "Outcome(ok, value=3)"
    failed = Outcome(TaskStatus.FAILED, None, KeyError("k"))
    assert repr(failed) == "Outcome(failed, error=KeyError)"
    assert aiodag.outcome is outcome
    assert "Outcome" in aiodag.__all__ and "outcome" in aiodag.__all__
