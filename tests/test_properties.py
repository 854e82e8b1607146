"""Property-based: random DAGs with random delays, failures and cancellations."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aiodag
from aiodag import TaskCreated, TaskFinished, TaskStarted, TaskStatus, task
from aiodag.testing import RecordingSink


@dataclass(frozen=True)
class Node:
    """The plan for one task of a random DAG."""

    data: tuple[int, ...]  # indices of earlier nodes passed as arguments
    exogenous: tuple[int, ...]  # indices of earlier nodes given to task(fn, *deps)
    delay_ms: int
    fails: bool
    cancel_after_ms: int | None  # cancel the handle this long after calling it
    nesting: int = 0  # pass the data upstreams this many containers deep
    sink_cancels: bool = False  # a sink raises CancelledError on this task's TaskStarted


@st.composite
def dags(draw: st.DrawFn, max_nodes: int = 200, hostile: bool = False) -> list[Node]:
    """Up to ``max_nodes`` nodes; each depends on up to three earlier ones.  ``hostile``:
    some upstreams nested hundreds of containers deep, some sinks raising
    BaseException."""
    n = draw(st.integers(1, max_nodes))
    nodes: list[Node] = []
    for i in range(n):
        earlier = st.integers(0, i - 1) if i else st.nothing()
        data = tuple(draw(st.lists(earlier, max_size=3 if i else 0)))
        exo = tuple(draw(st.lists(earlier, max_size=1 if i else 0)))
        nodes.append(Node(
            data=data,
            exogenous=exo,
            delay_ms=draw(st.integers(0, 3)),
            fails=draw(st.integers(0, 9)) == 0,  # about one task in ten fails
            cancel_after_ms=draw(st.one_of(st.none(), st.none(), st.none(), st.integers(0, 4))),
            nesting=draw(st.sampled_from([0, 0, 0, 1, 400, 2000])) if hostile else 0,
            sink_cancels=hostile and draw(st.integers(0, 9)) == 0,
        ))
    return nodes


def _random_plan(seed: int, n: int) -> list[Node]:
    """A DAG of ``n`` nodes drawn from ``seed`` (hypothesis's byte budget is too small
    to draw thousands of nodes one value at a time; it varies and shrinks the seed)."""
    rng = random.Random(seed)
    nodes = []
    for i in range(n):
        nodes.append(Node(
            data=tuple(rng.randrange(i) for _ in range(rng.randint(0, 3))) if i else (),
            exogenous=(rng.randrange(i),) if i and rng.random() < 0.2 else (),
            delay_ms=rng.randint(0, 3),
            fails=rng.random() < 0.05,
            cancel_after_ms=rng.randint(0, 40) if rng.random() < 0.02 else None,
            nesting=rng.choice([0] * 20 + [400, 2000]),
            sink_cancels=rng.random() < 0.02,
        ))
    return nodes


def _nest(value: object, depth: int) -> object:
    for level in range(depth):
        value = [value] if level % 2 else {"v": (value,)}
    return value


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def _execute(plan: list[Node]) -> tuple[aiodag.Run, RecordingSink, set[int], list[int]]:
    ran: set[int] = set()

    @task
    async def body(index: int, *upstream_values: int) -> int:
        ran.add(index)
        await asyncio.sleep(plan[index].delay_ms / 1000)
        if plan[index].fails:
            raise ValueError(f"node {index}")
        return index

    sink = RecordingSink()
    cancel_on_start = set()

    def hostile_sink(event: aiodag.Event) -> None:
        if isinstance(event, TaskStarted) and event.task_id in cancel_on_start:
            raise asyncio.CancelledError("raised by a sink")

    loop = asyncio.get_running_loop()
    async with aiodag.Run("random", sinks=[sink, hostile_sink], raise_errors=False) as run:
        handles: list[aiodag.TaskHandle[int]] = []
        for i, node in enumerate(plan):
            fn = task(body, *(handles[j] for j in node.exogenous)) if node.exogenous else body
            handle = fn(i, *(_nest(handles[j], node.nesting) for j in node.data))
            if node.sink_cancels:
                cancel_on_start.add(handle.id)
            handles.append(handle)
            if node.cancel_after_ms is not None:
                loop.call_later(node.cancel_after_ms / 1000, handle.cancel)
    ids = [h.id for h in handles]
    return run, sink, ran, ids


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_random_dags_are_executed_exactly_by_the_rules(plan: list[Node]) -> None:
    """Terminal statuses, no hang, run iff deps succeeded, one report per failure,
    well-formed events."""
    _check(plan)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.data_too_large])
@given(dags(max_nodes=150, hostile=True))
def test_random_dags_with_deep_nesting_and_sinks_raising_base_exceptions(
    plan: list[Node],
) -> None:
    """The same rules hold when upstreams are nested deep and sinks raise CancelledError."""
    _check(plan)


@pytest.mark.slow
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                               HealthCheck.data_too_large])
@given(st.builds(_random_plan, st.integers(0, 2**32), st.integers(1000, 2500)))
def test_random_dags_of_thousands_of_tasks(plan: list[Node]) -> None:
    """Thousands of tasks (slow; CI runs it too)."""
    _check(plan)


def _check(plan: list[Node]) -> None:
    counter = _Count()
    logger = logging.getLogger("aiodag")
    logger.addHandler(counter)
    try:
        run, sink, ran, ids = asyncio.run(asyncio.wait_for(_execute(plan), timeout=30))
    finally:
        logger.removeHandler(counter)
    records = run.tasks
    assert [r.id for r in records] == ids
    index_of = {task_id: i for i, task_id in enumerate(ids)}

    # Every task reached a terminal status.
    assert all(r.status.is_terminal for r in records)

    # A task's body ran iff all its dependencies succeeded (unless cancelled first).
    for i, (node, record) in enumerate(zip(plan, records, strict=True)):
        deps_ok = all(records[j].status == TaskStatus.OK for j in (*node.data, *node.exogenous))
        if i in ran:
            assert deps_ok, f"node {i} ran although a dependency did not succeed"
            assert record.started is not None
        elif record.status != TaskStatus.CANCELLED:
            assert not node.sink_cancels or not deps_ok
            assert not deps_ok, f"node {i} did not run although its dependencies succeeded"
        # Status agrees with what happened.
        if record.status == TaskStatus.OK:
            assert i in ran and not node.fails
        elif record.status == TaskStatus.FAILED:
            assert i in ran and node.fails
        elif record.status == TaskStatus.UPSTREAM_FAILED:
            assert i not in ran
            assert any(records[j].status in (TaskStatus.FAILED, TaskStatus.UPSTREAM_FAILED)
                       for j in (*node.data, *node.exogenous))

    # Each failure surfaces exactly once: in run.failures and in the log.
    failed = [r for r in records if r.status == TaskStatus.FAILED]
    assert sorted(str(e) for e in run.failures) == sorted(
        f"node {index_of[r.id]}" for r in failed
    )
    assert len([m for m in counter.messages if "failed" in m]) == len(failed)

    # The event stream is well formed.
    position: dict[tuple[str, int], int] = {}
    for k, event in enumerate(sink.events):
        if isinstance(event, TaskCreated | TaskStarted | TaskFinished):
            key = (type(event).__name__, event.task_id)
            assert key not in position, f"duplicate {key}"
            position[key] = k
    for record in records:
        created = position[("TaskCreated", record.id)]
        finished = position[("TaskFinished", record.id)]
        started = position.get(("TaskStarted", record.id))
        assert (started is not None) == (record.started is not None)
        assert created < (started if started is not None else finished) <= finished
        events = sink.of_task(record.id)
        assert [e.ts for e in events] == sorted(e.ts for e in events)
        for upstream_id, _kind in record.deps:
            assert position[("TaskCreated", upstream_id)] < created
