"""A run's records as rows (aiodag.rows): every form of call recorded as before, and a
record is a live, lasting view of its row."""

from __future__ import annotations

import asyncio
import gc
import re
from typing import Any

import pytest

from aiodag import Run, TaskRecord, TaskStatus, outcome, task
from aiodag.events import DependencyKind, Event, TaskCreated
from aiodag.testing import RecordingSink


@task
async def value(x: object = 0) -> object:
    await asyncio.sleep(0)
    return x


@task
async def combine(*args: object, **kwargs: object) -> int:
    return len(args) + len(kwargs)


@task
async def boom() -> None:
    raise ValueError("boom")


async def every_kind_of_call(outside: Any) -> None:
    """Calls whose records take each path of the engine's recording."""
    a = value("a")
    b = value()
    combine(a, b)  # every argument a handle of the run: the label is made when read
    combine(a, a)  # the same upstream twice: one edge, the label names it twice
    combine(a, outside)  # an upstream of no run
    combine(a, k=b)  # a handle as a keyword argument
    combine(a, 3, [b])  # handles among values
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    future.set_result(7)
    combine(a, future)  # a plain future: waited for, but no task (no edge)
    combine(outcome(boom()), b)  # outcome(h): an edge from h
    task(combine, b, outcome(a))(a)  # exogenous dependencies
    combine()


def _normalised(run: Run) -> list[tuple[Any, ...]]:
    """The run's records with task ids replaced by their order in the run."""
    order = {record.id: i for i, record in enumerate(run.tasks)}

    def ref(match: re.Match[str]) -> str:
        return f"#{order.get(int(match.group(1)), 'outside')}"

    return [
        (record.name, re.sub(r"#(\d+)", ref, record.label),
         tuple((order.get(dep.upstream_id, "outside"), dep.kind) for dep in record.deps),
         record.status, order.get(record.caller_id) if record.caller_id else None)
        for record in run.tasks
    ]


async def test_records_are_the_same_with_and_without_a_sink() -> None:
    """With a sink, the engine builds every label and edge at the call, for the event;
    without one, it keeps the least it can and builds them when read: the records a
    user reads must not differ."""
    outside = value("outside")
    async with Run("bare", raise_errors=False) as bare:
        await every_kind_of_call(outside)
    sink = RecordingSink()
    async with Run("sunk", sinks=[sink], raise_errors=False) as sunk:
        await every_kind_of_call(outside)
    assert _normalised(bare) == _normalised(sunk)
    # ... and as the events said.
    created = {e.task_id: e for e in sink.events if isinstance(e, TaskCreated)}
    for record in sunk.tasks:
        assert record.label == created[record.id].label
        assert record.deps == created[record.id].deps
    labels = [label for _name, label, *_rest in _normalised(bare)]
    assert labels == [
        "value('a')", "value()", "combine(value#0, value#1)", "combine(value#0, value#0)",
        "combine(value#0, value#outside)", "combine(value#0, k=value#1)",
        "combine(value#0, 3, [value#1])",
        f"combine(value#0, {created_future_repr(sunk)})",
        "boom()", "combine(outcome(boom#8), value#1)", "combine(value#0)", "combine()",
    ]
    deps = {label: d for _name, label, d, *_rest in _normalised(bare)}
    assert deps["combine(value#0, value#0)"] == ((0, DependencyKind.DATA),)
    assert deps["combine(value#0, value#outside)"] == (
        (0, DependencyKind.DATA), ("outside", DependencyKind.DATA))
    assert deps[f"combine(value#0, {created_future_repr(sunk)})"] == (
        (0, DependencyKind.DATA),)
    assert set(deps["combine(outcome(boom#8), value#1)"]) == {
        (8, DependencyKind.DATA), (1, DependencyKind.DATA)}
    assert deps["combine(value#0)"] == (
        (0, DependencyKind.DATA), (1, DependencyKind.EXOGENOUS))


def created_future_repr(run: Run) -> str:
    """How the plain future appears in the label (asyncio's repr, shortened)."""
    label = next(r.label for r in run.tasks if "Future" in r.label)
    return label.split(", ", 1)[1][:-1]


async def test_records_of_a_task_are_equal_and_read_the_latest() -> None:
    gate = asyncio.Event()

    @task
    async def waits() -> None:
        await gate.wait()

    async with Run("live") as run:
        handle = waits()
        await asyncio.sleep(0)
        record = run.task(handle.id)
        assert record.status is TaskStatus.RUNNING and record.finished is None
        assert run.tasks[0] == record == run.task(handle.id)
        assert {record, run.task(handle.id)} == {record}
        assert record != run.task(waits().id)
        gate.set()
    assert record.status is TaskStatus.OK
    assert record.finished is not None and record.duration is not None
    assert isinstance(record, TaskRecord)
    with pytest.raises(AttributeError):
        record.status = TaskStatus.FAILED  # type: ignore[misc]  # read-only: the run's


async def test_a_record_outlives_its_run_object() -> None:
    async def pipeline() -> TaskRecord:
        async with Run("gone") as run:
            combine(value(1), value(2))
        return run.tasks[-1]

    record = await pipeline()
    gc.collect()
    assert record.label.startswith("combine(value#") and record.status is TaskStatus.OK
    assert [dep.kind for dep in record.deps] == ["data", "data"]


async def test_a_refused_call_leaves_no_row() -> None:
    """A sink raising on TaskCreated refuses the call: no record, no count, no lookup."""
    refused: list[int] = []

    def sink(event: Event) -> None:
        if isinstance(event, TaskCreated) and event.label == "value('bad')":
            refused.append(event.task_id)
            raise SystemExit(4)

    async with Run(sinks=[sink]) as run:
        value("good")
        with pytest.raises(SystemExit):
            value("bad")
        value("after")
    assert [r.label for r in run.tasks] == ["value('good')", "value('after')"]
    assert run.counts()[TaskStatus.OK] == 2 and sum(run.counts().values()) == 2
    with pytest.raises(KeyError, match="no task with id"):
        run.task(refused[0])
    assert "tasks=2" in repr(run)


async def test_a_call_without_arguments_is_labelled_without_its_exogenous_upstreams() -> None:
    async with Run("exo") as run:
        up = value(1)
        task(combine, up)()
    assert run.tasks[-1].label == "combine()"
    assert run.tasks[-1].deps == ((up.id, DependencyKind.EXOGENOUS),)


async def test_tasks_called_while_a_call_is_recorded_are_found_by_id() -> None:
    """A repr called while a call is recorded (for a sink's event) may call tasks of
    its own: their ids come before the outer call's in the run's rows."""

    class Noisy:
        def __repr__(self) -> str:
            value("inner")
            return "Noisy()"

    async with Run("order", sinks=[lambda event: None]) as run:
        outer = combine(Noisy())
        after = combine(outer)
    ids = [record.id for record in run.tasks]
    assert sorted(ids) != ids  # (the case under test: rows out of id order)
    for task_id in ids:
        assert run.task(task_id).id == task_id
    assert run.task(after.id).label == f"combine(combine#{outer.id})"
    assert [r.id for r in run.critical_path()][-1] == after.id


async def test_a_task_is_found_by_any_integer_id() -> None:
    class Id:
        def __init__(self, value: int) -> None:
            self.value = value

        def __index__(self) -> int:  # as numpy's integers
            return self.value

    async with Run("ids") as run:
        h = value(1)
    assert run.task(Id(h.id)).id == h.id  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        run.task("1")  # type: ignore[arg-type]


async def test_a_record_pickles_and_copies_alone() -> None:
    """A pickled or copied record carries its task's facts, not its whole run."""
    import copy
    import pickle

    async with Run("pickled", raise_errors=False) as run:
        ups = [value(i) for i in range(200)]
        last = combine(*ups[:2])
        failing = boom()
    record = run.task(last.id)
    data = pickle.dumps(record)
    assert len(data) < 2_000
    for again in (pickle.loads(data), copy.copy(record), copy.deepcopy(record)):
        assert (again.id, again.name, again.label, again.status, again.deps) == (
            record.id, record.name, record.label, record.status, record.deps)
        assert (again.created, again.started, again.finished, again.ready) == (
            record.created, record.started, record.finished, record.ready)
        assert again.released_by == record.released_by
    failed = pickle.loads(pickle.dumps(run.task(failing.id)))
    assert failed.status is TaskStatus.FAILED and isinstance(failed.error, ValueError)
