"""Events and sinks: what is emitted, in which order, to whom, and isolation of failures."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time

import pytest

import aiodag
from aiodag import (
    DependencyKind,
    RunFinished,
    RunStarted,
    TaskCreated,
    TaskFinished,
    TaskStarted,
    task,
)
from aiodag.events import CLOCK_ANCHOR, to_wall_ns
from aiodag.testing import RecordingSink


@task
async def value(x: int) -> int:
    await asyncio.sleep(0.002 * x)  # distinct delays: a deterministic event order
    return x


@task
async def add(a: int, b: int) -> int:
    return a + b


async def test_event_sequence_of_a_small_dag_is_exact(recorder: RecordingSink) -> None:
    """Run start, each task created/started/finished, run finish — in causal order."""
    async with aiodag.Run("seq", sinks=[recorder]) as run:
        a = value(1)
        b = value(2)
        c = add(a, b)
    assert await c == 3
    assert recorder.kinds() == [
        ("RunStarted", None),
        ("TaskCreated", a.id),
        ("TaskCreated", b.id),
        ("TaskCreated", c.id),
        ("TaskStarted", a.id),
        ("TaskStarted", b.id),
        ("TaskFinished", a.id),
        ("TaskFinished", b.id),
        ("TaskStarted", c.id),
        ("TaskFinished", c.id),
        ("RunFinished", None),
    ]
    first, last = recorder.events[0], recorder.events[-1]
    assert isinstance(first, RunStarted) and first.run is run
    assert isinstance(last, RunFinished) and last.run is run


async def test_created_events_carry_the_dependencies_and_their_kinds(
    recorder: RecordingSink,
) -> None:
    """TaskCreated lists each upstream once with kind data or exogenous."""
    async with aiodag.Run("deps", sinks=[recorder]):
        a = value(1)
        gate = value(0)
        c = task(add, gate)(a, 5)
    created = {e.task_id: e for e in recorder.events if isinstance(e, TaskCreated)}
    assert created[c.id].deps == (
        (a.id, DependencyKind.DATA), (gate.id, DependencyKind.EXOGENOUS)
    )
    assert created[c.id].label == f"add(value#{a.id}, 5)"
    assert created[c.id].args == (f"value#{a.id}", "5")
    assert created[a.id].deps == ()


async def test_timestamps_are_monotonic_and_anchored_to_the_wall_clock(
    recorder: RecordingSink,
) -> None:
    """Per task created ≤ started ≤ finished; the run's anchor converts to wall time."""
    before = time.time_ns()
    async with aiodag.Run("clock", sinks=[recorder]):
        add(value(1), value(2))
    after = time.time_ns()
    started = recorder.events[0]
    assert isinstance(started, RunStarted)
    assert before <= to_wall_ns(started.ts, started.anchor) <= after
    for task_id in {e.task_id for e in recorder.events if isinstance(e, TaskCreated)}:
        times = [e.ts for e in recorder.of_task(task_id)]
        assert times == sorted(times) and len(times) == 3
        assert before <= to_wall_ns(times[-1], started.anchor) <= after
    # The process anchor agrees with the run's to well within a millisecond.
    assert abs(to_wall_ns(started.ts) - to_wall_ns(started.ts, started.anchor)) < 1_000_000


async def test_global_sinks_see_every_task_and_can_be_removed() -> None:
    """add_sink sees tasks in and out of runs; after remove_sink nothing more arrives."""
    sink = RecordingSink()
    aiodag.add_sink(sink)
    outside = value(1)
    await outside
    async with aiodag.Run("in"):
        inside = value(2)
    aiodag.remove_sink(sink)
    await value(3)
    task_ids = {e.task_id for e in sink.events if isinstance(e, TaskCreated)}
    assert task_ids == {outside.id, inside.id}
    outside_created = next(e for e in sink.events if isinstance(e, TaskCreated))
    assert outside_created.run_id is None


async def test_run_sinks_see_only_their_runs_tasks() -> None:
    """A scoped sink hears nothing of tasks outside its run."""
    mine, other = RecordingSink(), RecordingSink()
    async with aiodag.Run("mine", sinks=[mine]):
        ours = value(1)
    async with aiodag.Run("other", sinks=[other]):
        theirs = value(2)
    await value(3)
    assert {e.task_id for e in mine.events if isinstance(e, TaskCreated)} == {ours.id}
    assert {e.task_id for e in other.events if isinstance(e, TaskCreated)} == {theirs.id}


async def test_a_failing_sink_is_logged_once_disabled_and_harmless(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A sink that raises breaks neither the pipeline nor the other sinks."""
    calls: list[str] = []

    def broken(event: aiodag.Event) -> None:
        calls.append(type(event).__name__)
        raise RuntimeError("sink bug")

    good = RecordingSink()
    aiodag.add_sink(broken)
    caplog.set_level(logging.ERROR, logger="aiodag")
    async with aiodag.Run("isolated", sinks=[good]):
        result = add(value(1), value(2))
    assert await result == 5 - 2
    assert calls == ["RunStarted"]  # disabled after its first failure
    assert len(good.events) == 2 + 3 * 3
    sink_errors = [r for r in caplog.records if "disabled" in r.getMessage()]
    assert len(sink_errors) == 1 and "broken" in sink_errors[0].getMessage()
    assert aiodag.sinks.global_slots() == ()


async def test_started_and_finished_are_emitted_in_the_tasks_own_context() -> None:
    """A sink can set a context variable at TaskStarted that the body then reads."""
    current: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="none")
    tokens: dict[int, contextvars.Token[str]] = {}
    seen_after: list[str] = []

    def sink(event: aiodag.Event) -> None:
        if isinstance(event, TaskStarted):
            tokens[event.task_id] = current.set(f"task {event.task_id}")
        elif isinstance(event, TaskFinished) and event.task_id in tokens:
            current.reset(tokens.pop(event.task_id))
            seen_after.append(current.get())

    @task
    async def read() -> str:
        await asyncio.sleep(0.001)
        return current.get()

    async with aiodag.Run("ctx", sinks=[sink]):
        a, b = read(), read()
    assert await a == f"task {a.id}"
    assert await b == f"task {b.id}"
    assert seen_after == ["none", "none"]
    assert current.get() == "none"


async def test_sink_registration_errors_are_clear() -> None:
    """Adding twice, removing an unknown sink, or a non-callable: specific errors."""
    sink = RecordingSink()
    aiodag.add_sink(sink)
    with pytest.raises(ValueError, match="already added"):
        aiodag.add_sink(sink)
    aiodag.remove_sink(sink)
    with pytest.raises(ValueError, match="was not added"):
        aiodag.remove_sink(sink)
    with pytest.raises(TypeError, match="callable"):
        aiodag.add_sink("print")  # type: ignore[arg-type]


async def test_without_sinks_or_run_no_label_is_built() -> None:
    """The no-observer path computes nothing for observers: reprs are never called."""
    calls: list[str] = []

    class Loud:
        def __repr__(self) -> str:
            calls.append("repr")
            return "Loud()"

    @task
    async def take(x: object) -> None:
        return None

    await take(Loud())
    assert calls == []
    async with aiodag.Run("labelled") as run:
        take(Loud())
    assert calls == ["repr"]
    assert run.tasks[0].label == "take(Loud())"
    assert CLOCK_ANCHOR.wall_ns > 0
