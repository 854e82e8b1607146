"""aiodag.perfetto: a run as a Chrome / Perfetto JSON trace, checked against the format.

Perfetto's own trace processor cannot run here: the ``perfetto`` package on PyPI
ships no binary, it downloads one on first use, and this machine reaches no host but
the package registries.  So the files are checked against the published Trace Event
Format (the "JSON Object Format", complete/instant/flow/metadata events) and against
how the trace processor binds flow events (json_trace_parser: an ``s`` event binds to
the slice enclosing its timestamp on its thread; an ``f`` event with ``"bp": "e"``
likewise), re-implemented here as the test's oracle.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import aiodag
from aiodag import Run, perfetto, task
from aiodag.demo import etl_pipeline
from aiodag.events import AttemptFailed
from aiodag.lanes import pack_lanes, pack_lanes_by_group

# -- the format, as published --------------------------------------------------------

_PHASES = {"X", "i", "s", "f", "M"}  # the phases we write, all in the specification
_METADATA = {"process_name", "thread_name", "thread_sort_index", "process_sort_index"}


def check_format(doc: Any) -> list[dict[str, Any]]:
    """Assert ``doc`` is a valid JSON Object Format trace; return its events."""
    assert isinstance(doc, dict) and isinstance(doc["traceEvents"], list)
    assert doc.get("displayTimeUnit", "ms") in ("ms", "ns")
    assert isinstance(doc.get("otherData", {}), dict)
    for event in doc["traceEvents"]:
        ph = event["ph"]
        assert ph in _PHASES, event
        assert isinstance(event["name"], str)
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int)
        if ph == "M":
            assert event["name"] in _METADATA and isinstance(event["args"], dict)
            continue
        assert isinstance(event["ts"], int | float) and event["ts"] >= 0
        assert isinstance(event["cat"], str) and event["cat"]
        if ph == "X":
            assert isinstance(event["dur"], int | float) and event["dur"] >= 0
            assert isinstance(event["args"], dict)
        elif ph == "i":
            assert event["s"] in ("g", "p", "t")
        else:  # flow events: an id, and the end binds to its enclosing slice
            assert isinstance(event["id"], int | str)
            if ph == "f":
                assert event["bp"] == "e"
    return list(doc["traceEvents"])


def slices(events: list[dict[str, Any]], cat: str = "task") -> list[dict[str, Any]]:
    return [e for e in events if e["ph"] == "X" and e["cat"] == cat]


def ns(us: float) -> int:
    return round(us * 1000)


def check_nesting(events: list[dict[str, Any]]) -> None:
    """Slices on one thread never partly overlap (the format's rule for X events). Task
    slices on a thread are apart; the one nesting we write is a retried task's
    attempts, each inside that task's slice."""
    by_tid: dict[int, list[dict[str, Any]]] = {}
    for e in events:
        if e["ph"] == "X":
            by_tid.setdefault(e["tid"], []).append(e)
    for on_thread in by_tid.values():
        tasks = sorted((ns(e["ts"]), ns(e["ts"] + e["dur"])) for e in on_thread
                       if e["cat"] != "attempt")
        for (_a0, a1), (b0, _b1) in itertools.pairwise(tasks):
            assert b0 >= a1, f"slices overlap on one thread: {tasks}"
        for attempt in (e for e in on_thread if e["cat"] == "attempt"):
            (owner,) = [e for e in on_thread if e["cat"] != "attempt"
                        and e["args"]["id"] == attempt["args"]["id"]]
            assert ns(owner["ts"]) <= ns(attempt["ts"])
            assert ns(attempt["ts"] + attempt["dur"]) <= ns(owner["ts"] + owner["dur"])


def bind_flows(events: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any], str]]:
    """``(upstream slice, dependent slice, cat)`` per flow, bound as the trace processor
    binds them: to the slice on top of the thread's stack at the flow event's time. A
    complete slice is pushed when it begins and popped only when a later slice begins
    after its end (json_trace_parser, SliceTracker), so a slice that has ended stays on
    top until then."""
    by_tid: dict[int, list[dict[str, Any]]] = {}
    for e in events:
        if e["ph"] == "X":
            by_tid.setdefault(e["tid"], []).append(e)
    for on_thread in by_tid.values():
        on_thread.sort(key=lambda e: (ns(e["ts"]), -ns(e["dur"])))

    def top_of_stack(event: dict[str, Any]) -> dict[str, Any]:
        t = ns(event["ts"])
        stack: list[dict[str, Any]] = []
        for s in by_tid.get(event["tid"], []):
            begin = ns(s["ts"])
            if begin > t:
                break
            while stack and ns(stack[-1]["ts"] + stack[-1]["dur"]) <= begin:
                stack.pop()
            stack.append(s)
        assert stack, f"flow event {event} binds to no slice"
        return stack[-1]

    starts = {(e["id"], e["cat"], e["name"]): e for e in events if e["ph"] == "s"}
    ends = {(e["id"], e["cat"], e["name"]): e for e in events if e["ph"] == "f"}
    assert starts.keys() == ends.keys(), "every flow has one start and one end"
    assert len(starts) == sum(1 for e in events if e["ph"] == "s"), "flow ids are unique"
    return [(top_of_stack(starts[k]), top_of_stack(ends[k]), k[1]) for k in starts]


def dependencies(run: Any) -> set[tuple[Hashable, Hashable]]:
    return {(up, t.id) for t in run.tasks for up, _kind in t.deps}


# -- the tests --------------------------------------------------------------------------


async def test_a_slice_per_task_and_a_flow_per_dependency() -> None:
    """The ETL run: 14 slices named by label; 14 flows, each from upstream to dependent."""
    async with Run("etl") as run:
        etl_pipeline(0.02)
    events = check_format(perfetto.to_trace_json(run))
    check_nesting(events)
    tasks = slices(events)
    assert sorted(e["name"] for e in tasks) == sorted(t.label for t in run.tasks)
    by_id = {e["args"]["id"]: e for e in tasks}
    for t in run.tasks:
        e = by_id[t.id]
        assert e["args"]["status"] == "ok" and e["args"]["name"] == t.name
        assert e["args"]["created_s"] == pytest.approx(t.created, abs=1e-9)
        assert e["args"].get("upstreams", []) == [up for up, _ in t.deps]
        assert ns(e["ts"]) == round(t.started * 1e9)
        assert ns(e["ts"] + e["dur"]) == pytest.approx(round(t.finished * 1e9), abs=1)
    flows = bind_flows(events)
    assert {(up["args"]["id"], down["args"]["id"]) for up, down, _cat in flows} == dependencies(run)
    assert all(up["cat"] == down["cat"] == "task" for up, down, _cat in flows)
    assert len(flows) == 14


async def test_flow_ends_sit_at_the_upstreams_end_and_the_dependents_start() -> None:
    """An arrow leaves 1 ns before its upstream ended and lands 1 ns after its dependent began."""
    async with Run("etl") as run:
        etl_pipeline(0.02)
    events = check_format(perfetto.to_trace_json(run))
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    ends = {e["id"]: e for e in events if e["ph"] == "f"}
    for up, down, _cat in bind_flows(events):
        flow = next(
            i for i, s in starts.items()
            if s["tid"] == up["tid"] and abs(ns(s["ts"]) - ns(up["ts"] + up["dur"])) <= 1
            and ends[i]["tid"] == down["tid"] and abs(ns(ends[i]["ts"]) - ns(down["ts"])) <= 1
        )
        assert starts[flow]["name"] in ("data", "exogenous")


async def test_the_critical_path_has_its_own_track_and_flow_category() -> None:
    """Critical tasks are copied, in order, on the top thread; their flows are 'critical_path'."""
    async with Run("etl") as run:
        etl_pipeline(0.02)
    doc = perfetto.to_trace_json(run)
    events = check_format(doc)
    path = [t.label for t in run.critical_path()]
    track = sorted(slices(events, "critical_path"), key=lambda e: e["ts"])
    assert [e["name"] for e in track] == path
    assert {e["tid"] for e in track} == {perfetto.CRITICAL_TID}
    thread_names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert thread_names[perfetto.CRITICAL_TID] == "critical path"
    assert sorted(e["name"] for e in slices(events) if e["args"].get("critical")) == sorted(path)
    critical_flows = [(u["name"], d["name"]) for u, d, cat in bind_flows(events)
                      if cat == "critical_path"]
    assert sorted(critical_flows) == sorted(itertools.pairwise(path))
    assert doc["otherData"]["aiodag.run.critical_path"] == path


async def test_lanes_are_named_by_task_name_and_packed() -> None:
    """Six concurrent fetches take six threads 'fetch 1'..'fetch 6'; sequential ones share."""
    async with Run("etl") as run:
        etl_pipeline(0.02)
    events = check_format(perfetto.to_trace_json(run))
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    fetch_tids = {e["tid"] for e in slices(events) if e["args"]["name"] == "fetch"}
    assert sorted(names[t] for t in fetch_tids) == [f"fetch {i}" for i in range(1, 7)]
    upload = [e for e in slices(events) if e["args"]["name"] == "upload"]
    assert names[upload[0]["tid"]] == "upload"


async def test_failures_are_in_the_args_and_tasks_that_never_ran_are_instants() -> None:
    """A failed task carries its error; its dependent is an instant on 'did not run'."""

    @task
    async def boom() -> None:
        raise ValueError("disk full")

    @task
    async def after(x: object) -> None: ...

    @task
    async def fine() -> int:
        return 1

    async with Run("failing", raise_errors=False) as run:
        after(boom())
        after(fine())
    doc = perfetto.to_trace_json(run)
    events = check_format(doc)
    failed = next(e for e in slices(events) if e["name"] == "boom()")
    assert failed["args"]["status"] == "failed"
    assert failed["args"]["error"] == "ValueError: disk full"
    assert failed["cname"] == "terrible"
    instants = [e for e in events if e["ph"] == "i"]
    assert [(e["name"], e["args"]["status"]) for e in instants] == [
        (next(t.label for t in run.tasks if t.status == "upstream_failed"), "upstream_failed")
    ]
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert names[instants[0]["tid"]] == "did not run"
    # The failed dependency has no flow (its dependent never ran), and says so.
    assert len(bind_flows(events)) == 1
    assert doc["otherData"]["aiodag.run.dependencies_without_flow"] == 1
    assert doc["otherData"]["aiodag.run.tasks.upstream_failed"] == 1


async def test_a_run_in_progress_shows_running_tasks_until_now() -> None:
    """Mid-run: the running task's slice lasts until the makespan so far; no critical path."""
    release = asyncio.Event()

    @task
    async def slow() -> None:
        await release.wait()

    async with Run("live") as run:
        slow()
        await asyncio.sleep(0.02)
        doc = perfetto.to_trace_json(run)
        release.set()
    events = check_format(doc)
    (running,) = slices(events)
    assert running["args"]["status"] == "running"
    assert running["dur"] > 0
    assert doc["otherData"]["aiodag.run.running"] is True
    assert slices(events, "critical_path") == []


def test_a_stored_run_exports_like_the_live_one(tmp_path: Path) -> None:
    """Read back from an OTLP JSON trace file: the same slices, flows and critical path."""
    from aiodag.trace import OpenTelemetrySink, configure
    from aiodag.trace.stored import load_run

    trace_file = tmp_path / "trace.jsonl"
    provider = configure("perfetto-test", file=trace_file, install=False)

    async def main() -> Run:
        async with Run("etl", sinks=[OpenTelemetrySink(provider)]) as run:
            etl_pipeline(0.02)
        return run

    live = asyncio.run(main())
    provider.shutdown()
    stored = load_run(trace_file)
    out = perfetto.write(stored, tmp_path / "run.perfetto.json")
    events = check_format(json.loads(out.read_text()))
    check_nesting(events)
    live_events = check_format(perfetto.to_trace_json(live))
    names = sorted(e["name"] for e in slices(events))
    assert names == sorted(e["name"] for e in slices(live_events))
    flows = {(u["name"], d["name"]) for u, d, _ in bind_flows(events)}
    assert flows == {(u["name"], d["name"]) for u, d, _ in bind_flows(live_events)}
    assert [e["name"] for e in sorted(slices(events, "critical_path"), key=lambda e: e["ts"])] == [
        t.label for t in live.critical_path()
    ]


async def test_a_large_run_exports_every_task_and_dependency() -> None:
    """2,000 tasks of a layered DAG: all slices and flows, threads well nested."""

    @task
    async def step(*ups: object) -> None:
        await asyncio.sleep(0)

    async with Run("layered") as run:
        layer = [step() for _ in range(50)]
        for _ in range(39):
            layer = [step(layer[i], layer[(i + 1) % 50]) for i in range(50)]
    events = check_format(perfetto.to_trace_json(run))
    check_nesting(events)
    assert len(slices(events)) == 2000
    assert Counter(e["ph"] for e in events)["s"] == 39 * 50 * 2


def test_write_replaces_the_file_whole(tmp_path: Path) -> None:
    """write() returns the path; the file is JSON an older copy of which is replaced."""

    async def main() -> Run:
        async with Run("small") as run:
            aiodag.task(asyncio.sleep)(0)
        return run

    path = tmp_path / "x.perfetto.json"
    path.write_text("old")
    assert perfetto.write(asyncio.run(main()), path) == path
    assert len(slices(check_format(json.loads(path.read_text())))) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["x.perfetto.json"]


# -- lanes ---------------------------------------------------------------------------


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 10)), max_size=40))
def test_pack_lanes_uses_as_many_lanes_as_tasks_at_once(pairs: list[tuple[int, int]]) -> None:
    """Intervals in one lane never overlap; the lane count is the most open at once."""
    intervals = [(float(start), float(start + length)) for start, length in pairs]
    lanes, used = pack_lanes(intervals)
    at_once = max(
        (sum(1 for a, b in intervals if a <= t < b or a == t == b) for t, _ in intervals),
        default=0,
    )
    assert used == at_once
    for lane in range(used):
        mine = sorted(iv for iv, ln in zip(intervals, lanes, strict=True) if ln == lane)
        assert all(b[0] >= a[1] for a, b in itertools.pairwise(mine))


def test_pack_lanes_by_group_stacks_groups_in_order_of_appearance() -> None:
    """Each group gets its own rows, in order; an item's row is within its group's."""
    packed = pack_lanes_by_group([(0, 1), (0, 1), (0, 1), (1, 2)], ["b", "a", "b", "b"])
    assert packed.groups == [("b", 0, 2), ("a", 2, 1)]
    assert packed.row == [0, 2, 1, 0]
    assert packed.rows == 3


async def test_a_retried_task_shows_its_attempts_inside_its_slice() -> None:
    """Each attempt a slice nested in the task's, the failed ones with their error; the
    task's args count them; the dependency's flow still joins the two tasks."""
    calls = 0

    @task(retries=2, retry_delay=0.01)
    async def flaky() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.005)
        if calls == 1:
            raise ConnectionError("reset by peer")
        return 1

    @task
    async def after(x: int) -> int:
        return x

    async with Run("retry") as run:
        up = flaky()
        down = after(up)
    events = check_format(perfetto.to_trace_json(run))
    check_nesting(events)
    (task_slice,) = [e for e in slices(events) if e["args"]["name"] == "flaky"]
    assert task_slice["args"]["attempts"] == 2
    attempts = sorted(slices(events, "attempt"), key=lambda e: e["ts"])
    assert [a["name"] for a in attempts] == ["attempt 1", "attempt 2"]
    assert attempts[0]["args"]["error"] == "ConnectionError: reset by peer"
    assert "error" not in attempts[1]["args"]
    record = run.task(up.id)
    for slice_, attempt in zip(attempts, record.attempts, strict=True):
        assert slice_["tid"] == task_slice["tid"]
        assert task_slice["ts"] <= slice_["ts"] and (
            slice_["ts"] + slice_["dur"] <= task_slice["ts"] + task_slice["dur"])
        assert ns(slice_["dur"]) == attempt.finished_ns - attempt.started_ns
    # The retry delay lies between them: the attempts are the body's runs, not the task.
    assert ns(attempts[1]["ts"]) - ns(attempts[0]["ts"] + attempts[0]["dur"]) >= 5_000_000
    # Perfetto binds the flow to the slice on top of the thread's stack: it leaves from
    # the attempt whose value the dependent got, and reaches the dependent's slice.
    ((up_slice, down_slice, _cat),) = bind_flows(events)
    assert up_slice is attempts[-1] and up_slice["args"]["id"] == up.id
    assert down_slice["cat"] == "task" and down_slice["args"]["id"] == down.id


async def test_an_attempt_that_timed_out_and_one_cut_short_by_a_cancel_are_shown() -> None:
    """A timed-out attempt says so; a task cancelled while waiting to retry still shows
    the attempt that failed (no retry ran, but its failure is not dropped)."""
    first = True

    @task(retries=1, timeout=0.05)
    async def slow_once() -> int:
        nonlocal first
        if first:
            first = False
            await asyncio.sleep(5)
        return 1

    @task(retries=1, retry_delay=30.0)
    async def waits_to_retry() -> int:
        raise ConnectionError("down")

    failed_once = asyncio.Event()

    def on_event(event: object) -> None:
        if isinstance(event, AttemptFailed) and isinstance(event.error, ConnectionError):
            failed_once.set()

    async with Run("cut", raise_errors=False, sinks=[on_event]) as run:
        slow_once()
        waiting = waits_to_retry()
        await asyncio.wait_for(failed_once.wait(), 10)
        waiting.cancel()
    events = check_format(perfetto.to_trace_json(run))
    check_nesting(events)
    by_task: dict[Any, list[dict[str, Any]]] = {}
    for e in slices(events, "attempt"):
        by_task.setdefault(e["args"]["id"], []).append(e)
    timed_out, ok = sorted(by_task[run.tasks[0].id], key=lambda e: e["ts"])
    assert timed_out["args"]["timed_out"] is True and timed_out["cname"] == "terrible"
    assert timed_out["args"]["error"].startswith("TimeoutError")
    assert "timed_out" not in ok["args"] and "cname" not in ok
    (cut,) = by_task[waiting.id]
    assert cut["args"]["error"] == "ConnectionError: down"
    (cut_task,) = [e for e in slices(events) if e["args"]["id"] == waiting.id]
    assert cut_task["args"]["status"] == "cancelled" and cut_task["args"]["attempts"] == 1


async def test_a_retry_cancelled_while_it_ran_is_a_cancelled_attempt() -> None:
    """A retry cut short by a cancel shows as an attempt slice in the cancelled colour;
    a task cancelled in its first (and only) attempt is just its own slice."""
    retrying = asyncio.Event()
    calls = 0

    @task(retries=2, retry_delay=0.001)
    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("down")
        retrying.set()
        await asyncio.sleep(30)

    @task(timeout=30)
    async def hangs() -> None:
        await asyncio.sleep(30)

    async with Run("cut", raise_errors=False) as run:
        retried, once = flaky(), hangs()
        await asyncio.wait_for(retrying.wait(), 10)
        retried.cancel()
        once.cancel()
    events = check_format(perfetto.to_trace_json(run))
    check_nesting(events)
    attempts = sorted(slices(events, "attempt"), key=lambda e: e["ts"])
    assert [(e["args"]["id"], e["args"]["attempt"]) for e in attempts] == \
        [(retried.id, 1), (retried.id, 2)]
    failed, cut = attempts
    assert failed["cname"] == "terrible" and failed["args"]["error"] == "ConnectionError: down"
    assert cut["cname"] == "grey" and cut["args"]["error"] == "CancelledError"
    (task_slice,) = [e for e in slices(events) if e["args"]["id"] == retried.id]
    assert task_slice["args"]["status"] == "cancelled" and task_slice["args"]["attempts"] == 2


def test_a_stored_run_counts_a_retried_tasks_attempts(tmp_path: Path) -> None:
    """Read back from a trace, a run knows only how many attempts a task took: its slice
    says so, with no attempt slices to invent."""
    from aiodag.trace import OpenTelemetrySink, configure
    from aiodag.trace.stored import load_run

    trace_file = tmp_path / "trace.jsonl"
    provider = configure("perfetto-test", file=trace_file, install=False)
    calls = 0

    @task(retries=3, retry_delay=0.0)
    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("reset by peer")
        return 1

    async def main() -> None:
        async with Run("retry", sinks=[OpenTelemetrySink(provider)]):
            flaky()

    asyncio.run(main())
    provider.shutdown()
    events = check_format(perfetto.to_trace_json(load_run(trace_file)))
    (task_slice,) = slices(events)
    assert task_slice["args"]["attempts"] == 3
    assert not slices(events, "attempt")
