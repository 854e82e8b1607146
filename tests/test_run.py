"""``Run``: membership, waiting, errors, cancellation and the recorded DAG."""

from __future__ import annotations

import asyncio
import itertools

import pytest

import aiodag
from aiodag import Run, TaskStatus, UpstreamError, task
from aiodag.demo import etl_pipeline
from aiodag.labels import MAX_LABEL


class Boom(Exception):
    """An error raised by a task."""


@task
async def sleep_then(value: int, delay: float = 0.01) -> int:
    await asyncio.sleep(delay)
    return value


@task
async def fail(msg: str) -> int:
    await asyncio.sleep(0.005)
    raise Boom(msg)


@task
async def add(a: int, b: int) -> int:
    return a + b


@task
async def pair(a: object, b: object) -> tuple[object, object]:
    return a, b


async def test_tasks_called_by_tasks_belong_to_the_run_and_exit_waits_for_them() -> None:
    """Tasks spawned later by the run's tasks belong to it; leaving waits for all."""
    spawned: list[aiodag.TaskHandle[int]] = []

    @task
    async def spawner() -> None:
        await asyncio.sleep(0.005)
        spawned.append(sleep_then(7, delay=0.02))

    async with Run("spawn") as run:
        spawner()
    assert len(spawned) == 1 and spawned[0].done() and spawned[0].result() == 7
    assert [r.name for r in run.tasks] == ["spawner", "sleep_then"]
    assert not run.running


async def test_the_innermost_run_wins() -> None:
    """A task belongs to the innermost run around its call."""
    async with Run("outer") as outer:
        sleep_then(1)
        async with Run("inner") as inner:
            sleep_then(2)
        sleep_then(3)
    assert [r.label for r in outer.tasks] == ["sleep_then(1)", "sleep_then(3)"]
    assert [r.label for r in inner.tasks] == ["sleep_then(2)"]
    assert Run.current() is None


async def test_failures_leave_the_run_as_an_exception_group_of_root_causes() -> None:
    """The group holds the tasks' own errors, not the UpstreamErrors they caused."""
    with pytest.raises(ExceptionGroup) as group:
        async with Run("failing") as run:
            a = fail("first")
            add(a, 1)
            add(add(a, 2), 3)
            fail("second")
            ok = sleep_then(5)
    errors = group.value.exceptions
    assert sorted(str(e) for e in errors) == ["first", "second"]
    assert all(isinstance(e, Boom) for e in errors)
    assert "failing" in str(group.value)
    assert ok.result() == 5  # independent branches are not cancelled
    statuses = [r.status for r in run.tasks]
    assert statuses.count(TaskStatus.UPSTREAM_FAILED) == 3
    assert statuses.count(TaskStatus.FAILED) == 2
    derived = [r for r in run.tasks if r.status == TaskStatus.UPSTREAM_FAILED]
    assert all(isinstance(r.error, UpstreamError) for r in derived)


async def test_raise_errors_false_keeps_failures_on_the_record_only() -> None:
    """With raise_errors=False leaving does not raise; run.failures has the errors."""
    async with Run("quiet", raise_errors=False) as run:
        fail("kept")
    assert [str(e) for e in run.failures] == ["kept"]
    assert run.tasks[0].status == TaskStatus.FAILED
    assert isinstance(run.tasks[0].error, Boom)


async def test_an_error_in_the_block_cancels_the_tasks_and_is_grouped() -> None:
    """Like TaskGroup: the body's own error cancels the run's tasks and is raised."""
    with pytest.raises(ExceptionGroup) as group:
        async with Run("body") as run:
            pending = sleep_then(1, delay=10)
            raise KeyError("in the body")
    assert [type(e) for e in group.value.exceptions] == [KeyError]
    assert pending.cancelled()
    assert run.tasks[0].status == TaskStatus.CANCELLED


async def test_cancelling_the_waiting_code_cancels_the_runs_tasks_first() -> None:
    """Cancellation while waiting in the run cancels its tasks, waits, then propagates."""
    handles: list[aiodag.TaskHandle[int]] = []
    runs: list[Run] = []

    async def pipeline() -> None:
        async with Run("cancelled") as run:
            runs.append(run)
            handles.append(sleep_then(1, delay=10))
            handles.append(add(handles[0], 1))

    outer = asyncio.create_task(pipeline())
    await asyncio.sleep(0.02)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert all(h.cancelled() for h in handles)
    assert [r.status for r in runs[0].tasks] == ["cancelled", "cancelled"]
    assert not runs[0].running


async def test_records_hold_the_dag_and_its_timings() -> None:
    """Each record has id, name, label, status, times and deps; no values are kept."""
    secret = "do-not-keep-" + "x" * 100
    async with Run("record") as run:
        a = sleep_then(1)
        b = task(add, a)(a, len(secret))
    records = run.tasks
    assert [r.id for r in records] == [a.id, b.id]
    rb = run.task(b.id)
    assert rb.name == "add" and rb.status == "ok" and rb.error is None
    assert rb.deps == ((a.id, "data"),)  # exogenous duplicate of a data dep is one edge
    ra = run.task(a.id)
    assert ra.created <= ra.started <= ra.finished <= rb.started <= rb.finished  # type: ignore[operator]
    assert ra.duration == pytest.approx(ra.finished - ra.started)  # type: ignore[operator]
    assert 0.01 <= ra.duration < 0.1  # type: ignore[operator]
    assert run.makespan == pytest.approx(rb.finished)
    assert all(secret not in repr(vars(r) if hasattr(r, "__dict__") else r) for r in records)
    with pytest.raises(KeyError, match="no task with id"):
        run.task(-1)


async def test_labels_are_short_and_never_nest_upstream_labels() -> None:
    """A long chain keeps labels short; huge arguments are shortened."""
    async with Run("chain") as run:
        h = sleep_then(0, delay=0)
        for _ in range(50):
            h = add(h, 1)
        pair(sleep_then("y" * 10_000, delay=0), [list(range(1000))])  # type: ignore[arg-type]
    labels = [r.label for r in run.tasks]
    assert max(len(label) for label in labels) <= MAX_LABEL
    assert labels[10] == f"add(add#{run.tasks[9].id}, 1)"
    assert labels[-2] == "sleep_then('yyyyyyyyy...yyyyyyyyyy', delay=0)"
    assert labels[-1] == f"pair(sleep_then#{run.tasks[-2].id}, [[0, 1, 2, 3, ...]])"


async def test_a_repr_that_raises_does_not_break_the_run() -> None:
    """An argument whose __repr__ raises shows as <Type>."""

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr for you")

    @task
    async def take(x: object) -> str:
        return "taken"

    async with Run("hostile") as run:
        h = take(Hostile())
    assert await h == "taken"
    assert run.tasks[0].label == "take(<Hostile>)"


async def test_critical_path_and_makespan_of_the_seed_etl() -> None:
    """The critical path is fetch('c1') → concatenate → strip_numbers → upload."""
    async with Run("etl") as run:
        etl_pipeline(speed=0.01)
    path = run.critical_path()
    assert [r.name for r in path] == ["fetch", "concatenate", "strip_numbers", "upload"]
    assert path[0].label == "fetch('c1')"
    assert path[-1].finished == pytest.approx(run.makespan)
    assert 0.09 <= run.makespan < 0.2
    for upstream, dependent in itertools.pairwise(path):
        assert upstream.id in {d.upstream_id for d in dependent.deps}


async def test_a_run_in_progress_shows_pending_and_running_tasks() -> None:
    """While running, records show where each task is, and repr shows counts."""
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @task
    async def wait_gate() -> None:
        await gate

    async with Run("live") as run:
        w = wait_gate()
        add(task(sleep_then, w)(1), 2)
        await asyncio.sleep(0.01)
        assert [r.status for r in run.tasks] == ["running", "pending", "pending"]
        assert run.running
        assert repr(run) == "<Run 'live' running tasks=3 pending=2 running=1>"
        assert run.critical_path() == []
        assert run.makespan > 0
        gate.set_result(None)
    assert repr(run) == "<Run 'live' finished tasks=3 ok=3>"
    assert run.counts()[TaskStatus.OK] == 3


async def test_a_run_cannot_be_entered_twice_and_needs_a_name() -> None:
    """Reuse and bad names get clear errors."""
    run = Run("once")
    async with run:
        pass
    with pytest.raises(RuntimeError, match="already entered"):
        async with run:
            pass
    with pytest.raises(TypeError, match="non-empty string"):
        Run("")


async def test_a_context_that_outlives_its_run_does_not_add_to_it() -> None:
    """A task called from a context copied inside a finished run is not recorded there."""
    later: asyncio.Future[aiodag.TaskHandle[int]] = asyncio.get_running_loop().create_future()

    async def background() -> None:
        await asyncio.sleep(0.02)
        later.set_result(sleep_then(1, delay=0))

    async with Run("short") as run:
        keep = asyncio.get_running_loop().create_task(background())
    await keep
    assert await (await later) == 1
    assert run.tasks == []


async def test_labels_name_upstreams_from_inside_and_outside_the_run() -> None:
    """Upstreams show as name#id whether they belong to the run, to none, or nested."""
    outside = sleep_then(1, delay=0)
    async with Run("labels") as run:
        inside = sleep_then(2, delay=0)
        add(outside, inside)
        pair([inside, {"k": (outside,)}], "x")
    labels = [r.label for r in run.tasks]
    assert labels == [
        "sleep_then(2, delay=0)",
        f"add(sleep_then#{outside.id}, sleep_then#{inside.id})",
        f"pair([sleep_then#{inside.id}, {{'k': (...)}}], 'x')",  # reprlib's depth limit
    ]


async def test_records_and_events_name_the_task_that_spawned_a_task() -> None:
    @task
    async def child(x: int) -> int:
        return x

    @task
    async def parent() -> int:
        return await child(1) + await child(2)

    events: list[aiodag.events.Event] = []
    async with Run(sinks=[events.append]) as run:
        top = parent()
    by_name = {r.id: r for r in run.tasks}
    assert by_name[top.id].caller_id is None
    children = [r for r in run.tasks if r.name == "child"]
    assert [r.caller_id for r in children] == [top.id, top.id]
    created = [e for e in events if isinstance(e, aiodag.events.TaskCreated)]
    assert {e.task_id: e.caller_id for e in created} == {r.id: r.caller_id for r in run.tasks}
