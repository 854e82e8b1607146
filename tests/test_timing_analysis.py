"""Where the time went: the wait breakdown and who blocked the loop (#12 §3, §4)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from aiodag import Run, task
from aiodag.analysis import wait_breakdown
from aiodag.events import Event, LoopBlocked


@task
async def sleep_for(seconds: float, *upstreams: object) -> float:
    await asyncio.sleep(seconds)
    return seconds


@task
async def blocks_the_loop(seconds: float) -> None:
    await asyncio.sleep(0.01)
    time.sleep(seconds)  # noqa: ASYNC251  # the blocking call under test


async def test_each_task_knows_its_last_arrival_and_its_three_waits() -> None:
    async with Run() as run:
        fast, slow = sleep_for(0.01), sleep_for(0.08)
        joined = sleep_for(0.02, fast, slow)
    record = run.task(joined.id)
    assert record.released_by == slow.id  # the upstream it waited for last
    assert record.ready == pytest.approx(run.task(slow.id).finished, abs=1e-6)
    assert record.dependency_wait == pytest.approx(0.08, abs=0.04)
    assert record.loop_wait is not None and 0 <= record.loop_wait < 0.02
    assert run.task(fast.id).released_by is None  # ready at its call
    # The same figures rebuilt from the upstreams' finish times alone (as for a trace
    # that did not record them).
    bare = {r.id: SimpleNamespace(id=r.id, deps=r.deps, created=r.created, started=r.started,
                                  finished=r.finished) for r in run.tasks}
    rebuilt = wait_breakdown(bare)
    live = run.wait_breakdown()
    for task_id, parts in live.items():
        assert rebuilt[task_id].released_by == parts.released_by
        for got, want in zip(rebuilt[task_id][:3], parts[:3], strict=True):
            assert got == pytest.approx(want, abs=1e-6)


@task
async def returns_at_once(*upstreams: object) -> None:
    return None


@task
async def blocks_at_once(seconds: float, *upstreams: object) -> None:
    time.sleep(seconds)  # noqa: ASYNC251  # the blocking call under test


async def test_a_blocking_step_is_reported_against_its_task_and_others_wait_for_the_loop(
) -> None:
    events: list[Event] = []
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    async with Run(sinks=[events.append], block_threshold=0.1) as run:
        # `first` ends and makes both ready, in this order: `culprit` starts and holds
        # the loop, so `victim`, ready as well, waits for it.
        first = returns_at_once(gate)
        culprit = blocks_at_once(0.4, first)
        victim = returns_at_once(first)
        await asyncio.sleep(0.01)
        gate.set_result(None)
    blocks = run.loop_blocks
    assert [b.task_id for b in blocks] == [culprit.id]
    assert blocks[0].duration_ns / 1e9 == pytest.approx(0.4, abs=0.1)
    assert blocks[0].where.startswith(f"{__file__}:") and "blocks_at_once" in blocks[0].where
    assert [e for e in events if isinstance(e, LoopBlocked)] == blocks
    record = run.task(victim.id)
    assert record.released_by == first.id
    assert record.loop_wait is not None and record.loop_wait > 0.3
    assert record.dependency_wait < 0.1


async def test_short_steps_are_not_reported_and_detection_can_be_off() -> None:
    async with Run(block_threshold=0.1) as run:
        for _ in range(20):
            blocks_the_loop(0.005)
    assert run.loop_blocks == []
    async with Run(block_threshold=None) as off:
        blocks_the_loop(0.3)
    assert off.loop_blocks == []


def test_a_bad_threshold_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="block_threshold must be a number of seconds"):
        Run(block_threshold=0)
    with pytest.raises(ValueError, match=r"e\.g\. 0\.1"):
        Run(block_threshold="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="or None"):
        Run(block_threshold=True)


async def test_a_block_that_ends_the_run_or_the_task_is_reported_before_its_end() -> None:
    events: list[Event] = []
    async with Run(sinks=[events.append], block_threshold=0.1) as run:
        blocks_at_once(0.3)  # fire and forget: its block ends the run
    assert len(run.loop_blocks) == 1
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("LoopBlocked") < kinds.index("TaskFinished")


async def test_each_run_keeps_the_blocks_that_reach_its_own_threshold() -> None:
    async with Run("outer", block_threshold=5.0) as outer, \
            Run("inner", block_threshold=0.05) as inner:
        blocks_at_once(0.3)
        await asyncio.sleep(0.05)
    assert len(inner.loop_blocks) == 1 and outer.loop_blocks == []
    async with Run("strict", block_threshold=0.05), \
            Run("lenient", block_threshold=1.0) as lenient:
        blocks_at_once(0.3)
        await asyncio.sleep(0.05)
    assert lenient.loop_blocks == []


async def test_many_short_steps_in_one_loop_pass_are_not_one_block() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    async with Run(block_threshold=0.1) as run:
        for _ in range(10):
            blocks_at_once(0.03, gate)  # ten 30 ms steps, all in the same loop pass
        await asyncio.sleep(0.01)
        gate.set_result(None)
    assert run.loop_blocks == []


def test_the_wait_breakdown_and_blocks_travel_in_the_trace_and_read_back(
    tmp_path: Path,
) -> None:
    """Span attributes (loop wait, last arrival), a span event per block, and the same
    breakdown rebuilt from the file as from the live run."""
    pytest.importorskip("opentelemetry.sdk", reason="needs aiodag[trace] (the full suite "
                        "and .ci/pythons install it)")
    from aiodag.trace import OpenTelemetrySink, configure
    from aiodag.trace import attributes as attr
    from aiodag.trace.stored import load_run

    path = tmp_path / "trace.jsonl"
    provider = configure("tests", file=path, install=False)

    async def main() -> tuple[Run, int, int, int]:
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        async with Run("waits", sinks=[OpenTelemetrySink(provider)],
                       block_threshold=0.1) as run:
            # `first` ends and makes both ready, in this order: `culprit` starts and holds
            # the loop, so `victim`, ready as well, waits for it (on every Python: on
            # 3.12+ both start eagerly at `first`'s end, one after the other).
            first = returns_at_once(gate)
            culprit = blocks_at_once(0.3, first)
            victim = returns_at_once(first)
            await asyncio.sleep(0.01)
            gate.set_result(None)
        return run, first.id, culprit.id, victim.id

    run, first, culprit, victim = asyncio.run(main())
    provider.shutdown()
    spans = {}
    for line in path.read_text().splitlines():
        for resource in json.loads(line)["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    attrs = {a["key"]: a["value"] for a in span.get("attributes", [])}
                    if attr.TASK_ID in attrs:
                        spans[int(attrs[attr.TASK_ID]["intValue"])] = (span, attrs)
    _, victim_attrs = spans[victim]
    assert int(victim_attrs[attr.TASK_RELEASED_BY]["intValue"]) == first
    assert victim_attrs[attr.TASK_LOOP_WAIT_S]["doubleValue"] > 0.2
    culprit_span, _ = spans[culprit]
    [event] = culprit_span["events"]
    assert event["name"] == attr.LOOP_BLOCKED_EVENT

    stored = load_run(path)
    live = run.wait_breakdown()
    rebuilt = wait_breakdown({t.id: t for t in stored.tasks})
    for task_id, parts in live.items():
        assert rebuilt[task_id].released_by == parts.released_by
        for got, want in zip(rebuilt[task_id][:3], parts[:3], strict=True):
            assert got == pytest.approx(want, abs=2e-6)
    assert stored.task(victim).ready == pytest.approx(run.task(victim).ready, abs=2e-6)


def test_the_command_says_who_blocked_the_loop_and_who_waited_for_it(tmp_path: Path) -> None:
    pytest.importorskip("rich", reason="needs aiodag[cli] (not in the engine-only venvs of "
                        ".ci/pythons; the full suite runs it)")
    pipeline = Path(__file__).parent / "pipelines" / "blocking.py"
    result = subprocess.run(
        [sys.executable, "-m", "aiodag", "run", pipeline, "--out", tmp_path],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    [blocked] = [line for line in lines if "blocked the loop" in line]
    assert blocked.startswith("crunch(fetch#1) blocked the loop for 0.")
    [waited] = [line for line in lines if line.startswith("waited longest for the loop")]
    assert "parse(fetch#1) 0.2" in waited or "parse(fetch#1) 0.3" in waited


@pytest.mark.dot
async def test_the_drawing_and_the_timeline_mark_the_task_that_blocked_the_loop(
    tmp_path: Path,
) -> None:
    pytest.importorskip("graphviz", reason="needs aiodag[viz] (not in the engine-only venvs "
                        "of .ci/pythons; the full suite runs it)")
    from aiodag import viz

    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    async with Run(block_threshold=0.1) as run:
        first = returns_at_once(gate)
        culprit = blocks_at_once(0.3, gate)
        returns_at_once(first)
        await asyncio.sleep(0.01)
        gate.set_result(None)
    svg = viz.render(run, tmp_path / "dag.svg").read_text()
    assert svg.count("blocked the loop") == 1
    timeline = viz.timeline(run, tmp_path / "timeline.svg", waits=True).read_text()
    assert timeline.count(f'<g id="blocked-{culprit.id}"') == 1
    assert "blocked the loop" in timeline  # the legend


async def test_a_task_still_waiting_for_an_upstream_is_not_ready() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    async with Run() as run:
        waiting = returns_at_once(gate)
        at_once = returns_at_once()
        await asyncio.sleep(0.01)
        record = run.task(waiting.id)
        assert record.ready is None and record.dependency_wait is None
        assert record.loop_wait is None
        assert run.task(at_once.id).dependency_wait == 0.0  # ready at its call
        gate.set_result(None)
    assert record.dependency_wait is not None and record.dependency_wait >= 0.01
