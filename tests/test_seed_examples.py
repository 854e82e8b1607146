"""The three examples of the seed library's README, in this API (sleeps scaled down)."""

from __future__ import annotations

import asyncio
import time

import aiodag
from aiodag import task
from aiodag.demo import FETCH_SECONDS, etl_pipeline

S = 0.02  # seconds per "second" of the seed's example


async def test_etl_pipeline_runs_concurrently_and_in_optimal_time() -> None:
    """The ETL example returns the right data and takes only its critical path's time."""
    start = time.monotonic()
    async with aiodag.Run("etl") as run:
        upload = etl_pipeline(speed=S)
    elapsed = time.monotonic() - start
    assert await upload == "axax\naxaxbxbx\ncxcx"
    # Critical path: fetch c1 (6) + concatenate (1) + strip (1) + upload (1) = 9 units;
    # run one after another the 14 tasks would take 25.5 units.
    assert 9 * S <= elapsed < 9 * S + 0.15
    assert len(run.tasks) == 14
    assert {r.status for r in run.tasks} == {aiodag.TaskStatus.OK}


async def test_etl_tasks_start_as_soon_as_their_inputs_are_ready() -> None:
    """concatenate(a1, a2) starts when fetch a2 ends, not when the slowest fetch ends."""
    async with aiodag.Run("etl") as run:
        etl_pipeline(speed=S)
    by_label = {r.label: r for r in run.tasks}
    fetch_a2 = by_label["fetch('a2')"]
    concat_a = next(r for r in run.tasks if r.label.startswith("concatenate(fetch#")
                    and fetch_a2.id in {d.upstream_id for d in r.deps})
    assert concat_a.started is not None and fetch_a2.finished is not None
    assert 0 <= concat_a.started - fetch_a2.finished < 0.05
    assert concat_a.started < max(FETCH_SECONDS.values()) * S


async def test_tasks_can_be_invoked_dynamically_over_the_loops_lifetime() -> None:
    """The seed's second example: invocations made in a loop, never awaited, all run."""
    done: list[str] = []

    @task
    async def fetch(key: str) -> str:
        await asyncio.sleep(S / 4)
        return key

    @task
    async def concatenate(a: str, b: str) -> None:
        done.append(a + b)

    async with aiodag.Run("dynamic") as run:
        for i in range(6):
            if i % 2 == 0:
                concatenate(fetch("a1"), fetch("a2"))
            else:
                concatenate(fetch("b1"), fetch("b2"))
            await asyncio.sleep(S / 8)
    assert sorted(done) == ["a1a2"] * 3 + ["b1b2"] * 3
    assert len(run.tasks) == 18


async def test_exogenous_dependencies_delay_without_passing_values() -> None:
    """The seed's third example: fetch waits for a timer task it gets no value from."""
    times: dict[str, float] = {}
    start = time.monotonic()

    @task
    async def start_after_x_seconds(x: float) -> str:
        await asyncio.sleep(x)
        return "timer value"

    @task
    async def fetch() -> str:
        times["fetch"] = time.monotonic() - start
        return "data"

    @task
    async def process(raw_data: str) -> str:
        await asyncio.sleep(S)
        times["process"] = time.monotonic() - start
        return "processed_" + raw_data

    fetch_wait = start_after_x_seconds(2 * S)
    process_wait = start_after_x_seconds(4 * S)
    f = task(fetch, fetch_wait)()
    p = task(process, process_wait)(f)
    assert await asyncio.gather(p) == ["processed_data"]
    # Slack of 2.5 units (50 ms) for a loaded machine; the ordering is what matters.
    assert 2 * S <= times["fetch"] < 4.5 * S
    assert 5 * S <= times["process"] < 7.5 * S
