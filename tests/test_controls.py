"""Execution controls (aiodag.options, aiodag.limits, aiodag.controls, aiodag.failfast):
retries, timeouts, limits and fail_fast, through the public API.  Timing-sensitive tests
assert outcomes and orders, never speed: delays are a few milliseconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

import pytest

import aiodag
from aiodag import Run, TaskStatus, UpstreamError, task
from aiodag.events import AttemptFailed, TaskFinished, TaskStarted
from aiodag.options import make_controls
from aiodag.testing import RecordingSink


class Flaky(Exception):
    """A failure that goes away after a few attempts."""


def flaky(failures: int, exc: type[Exception] = Flaky) -> Any:
    """An async body failing its first ``failures`` calls, then returning the count."""
    calls = []

    async def body(x: int = 0) -> int:
        calls.append(x)
        await asyncio.sleep(0)
        if len(calls) <= failures:
            raise exc(f"attempt {len(calls)}")
        return len(calls)

    body.calls = calls  # type: ignore[attr-defined]
    return body


@task
async def nap(value: int, delay: float = 0.01) -> int:
    await asyncio.sleep(delay)
    return value


@task
async def boom() -> int:
    await asyncio.sleep(0.001)
    raise ValueError("boom")


# -- retries ---------------------------------------------------------------------------


async def test_retries_until_success_one_handle_one_status() -> None:
    """A body failing twice, with retries=2: one handle, ok, three attempts kept."""
    sink = RecordingSink()
    fetch = task(flaky(2), retries=2, retry_delay=0.001)
    async with Run("r", sinks=[sink]) as run:
        handle = fetch(7)
    assert handle.result() == 3
    record = run.task(handle.id)
    assert record.status is TaskStatus.OK
    assert [(a.number, type(a.error).__name__ if a.error else None) for a in record.attempts] \
        == [(1, "Flaky"), (2, "Flaky"), (3, None)]
    assert [str(a.error) for a in record.attempts[:2]] == ["attempt 1", "attempt 2"]
    assert all(a.started_ns <= a.finished_ns for a in record.attempts)
    assert record.attempts[0].finished_ns <= record.attempts[1].started_ns
    assert not record.timed_out
    assert sink.kinds()[1:] == [
        ("TaskCreated", handle.id), ("TaskStarted", handle.id),
        ("AttemptFailed", handle.id), ("AttemptFailed", handle.id),
        ("TaskFinished", handle.id), ("RunFinished", None),
    ]
    retried = [e for e in sink.events if isinstance(e, AttemptFailed)]
    assert [(e.attempt, e.retry_in is not None) for e in retried] == [(1, True), (2, True)]


async def test_retries_exhausted_the_last_error_is_the_tasks() -> None:
    """Three failures with retries=2: failed with the third error; only it fails the run."""
    fetch = task(flaky(5), retries=2, retry_delay=0.001)
    with pytest.raises(ExceptionGroup) as raised:
        async with Run("r") as run:
            handle = fetch()
    assert [str(e) for e in raised.value.exceptions] == ["attempt 3"]
    record = run.task(handle.id)
    assert record.status is TaskStatus.FAILED
    assert str(record.error) == "attempt 3"
    assert len(record.attempts) == 3
    assert record.attempts[-1].error is record.error


async def test_retried_failures_are_not_logged_as_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only the final outcome is reported: a task that recovers logs no error."""
    fetch = task(flaky(2), retries=2, retry_delay=0.001)
    with caplog.at_level(logging.INFO, logger="aiodag"):
        async with Run("r"):
            fetch()
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.INFO]
    assert "retrying" in caplog.records[0].getMessage()


async def test_retry_on_only_retries_the_listed_errors() -> None:
    """retry_on=(ConnectionError,): a ValueError ends the task at its first attempt."""
    body = flaky(1, ValueError)
    fetch = task(body, retries=3, retry_on=(ConnectionError,))
    async with Run("r", raise_errors=False) as run:
        handle = fetch()
    assert run.task(handle.id).status is TaskStatus.FAILED
    assert body.calls == [0]
    single = task(flaky(1, ConnectionError), retries=1, retry_on=ConnectionError)
    assert await single() == 2  # a single class is accepted too


async def test_dependents_wait_for_the_final_attempt() -> None:
    """A dependent receives the value of the attempt that succeeded."""
    fetch = task(flaky(1), retries=1, retry_delay=0.001)

    @task
    async def double(x: int) -> int:
        return 2 * x

    async with Run("r") as run:
        result = double(fetch())
    assert result.result() == 4
    assert [r.status for r in run.tasks] == [TaskStatus.OK, TaskStatus.OK]


async def test_another_tasks_failure_is_not_retried() -> None:
    """A body re-raising what it awaited from a failed task: retrying cannot help."""
    calls = []

    @task(retries=3, retry_delay=0.001)
    async def waits() -> int:
        calls.append(1)
        return await boom()  # a task it calls, whose failure it passes on

    async with Run("r", raise_errors=False) as run:
        handle = waits()
    assert len(calls) == 1
    assert len(run.task(handle.id).attempts) == 1
    assert run.task(handle.id).status is TaskStatus.FAILED


async def test_plain_def_task_is_retried_in_its_executor() -> None:
    """A plain function with retries runs again in the executor."""
    calls = []

    def parse(text: str) -> int:
        calls.append(text)
        if len(calls) < 2:
            raise Flaky("once")
        return len(text)

    assert await task(parse, retries=1)("abc") == 3
    assert calls == ["abc", "abc"]


async def test_cancelled_while_waiting_to_retry() -> None:
    """Cancelling a task between attempts ends it cancelled, with no further attempt."""
    body = flaky(5)
    sink = RecordingSink()
    async with Run("r", sinks=[sink], raise_errors=False):
        handle = task(body, retries=5, retry_delay=10.0)()
        for _ in range(100):  # until the first attempt has failed
            if any(isinstance(e, AttemptFailed) for e in sink.events):
                break
            await asyncio.sleep(0.001)
        handle.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handle
    assert handle.status is TaskStatus.CANCELLED
    assert body.calls == [0]


async def test_retry_delays_grow_are_capped_and_jittered() -> None:
    """delay_before: exponential from retry_delay, capped, spread within +-jitter."""
    exact = make_controls(retries=5, retry_delay=0.5, retry_backoff=3.0, retry_jitter=0.0)
    assert exact is not None
    assert [exact.delay_before(n) for n in (1, 2, 3)] == [0.5, 1.5, 4.5]
    capped = make_controls(retries=5, retry_delay=1, retry_max_delay=2.5, retry_jitter=0)
    assert capped is not None
    assert [capped.delay_before(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 2.5, 2.5]
    jittered = make_controls(retries=1, retry_delay=1.0, retry_jitter=0.2)
    assert jittered is not None
    rand = random.Random(13)
    delays = [jittered.delay_before(1, rand) for _ in range(200)]
    assert all(0.8 <= d <= 1.2 for d in delays)
    assert max(delays) - min(delays) > 0.2  # really spread, not constant


async def test_attempts_are_spaced_by_the_delay() -> None:
    """Each retry starts no earlier than its delay after the failed attempt ended."""
    fetch = task(flaky(2), retries=2, retry_delay=0.02, retry_backoff=2.0, retry_jitter=0.0)
    async with Run("r") as run:
        handle = fetch()
    first, second, third = run.task(handle.id).attempts
    # asyncio may fire a timer up to its clock resolution early: allow 1 ms.
    assert second.started_ns - first.finished_ns >= 0.019e9
    assert third.started_ns - second.finished_ns >= 0.039e9


# -- timeouts --------------------------------------------------------------------------


async def test_timeout_fails_the_task_and_skips_its_dependents() -> None:
    """A body running over its timeout: failed, TimeoutError, timed out; dependents skipped."""

    @task(timeout=0.01)
    async def hangs() -> int:
        await asyncio.sleep(10)
        return 1

    async with Run("r", raise_errors=False) as run:
        late = hangs()
        after = nap(late)
    record = run.task(late.id)
    assert record.status is TaskStatus.FAILED
    assert isinstance(record.error, TimeoutError)
    assert "ran over its timeout of 0.01 s" in str(record.error)
    assert record.timed_out
    assert record.attempts[-1].timed_out
    assert run.task(after.id).status is TaskStatus.UPSTREAM_FAILED
    assert isinstance(after.exception(), UpstreamError)


async def test_waiting_for_upstreams_does_not_count_against_the_timeout() -> None:
    """The clock starts with the body: a slow upstream does not time its dependent out."""

    @task(timeout=0.03)
    async def quick(x: int) -> int:
        await asyncio.sleep(0.001)
        return x

    async with Run("r") as run:
        handle = quick(nap(1, 0.08))
    assert handle.result() == 1
    assert not run.task(handle.id).timed_out


async def test_a_bodys_own_timeout_error_is_not_a_timeout() -> None:
    """TimeoutError raised by the body itself is an ordinary failure."""

    @task(timeout=5.0)
    async def own() -> int:
        raise TimeoutError("the server said so")

    async with Run("r", raise_errors=False) as run:
        handle = own()
    record = run.task(handle.id)
    assert record.status is TaskStatus.FAILED
    assert not record.timed_out
    assert str(record.error) == "the server said so"


async def test_timeout_applies_per_attempt_and_is_retried() -> None:
    """The first attempt hangs and times out; the retry, quick, succeeds."""
    calls = []

    @task(timeout=0.02, retries=1, retry_delay=0.001)
    async def sometimes_hangs() -> str:
        calls.append(1)
        if len(calls) == 1:
            await asyncio.sleep(10)
        return "done"

    async with Run("r") as run:
        handle = sometimes_hangs()
    assert handle.result() == "done"
    record = run.task(handle.id)
    assert [a.timed_out for a in record.attempts] == [True, False]
    assert not record.timed_out  # it ended ok


async def test_timeout_not_retried_unless_retry_on_matches() -> None:
    """retry_on without TimeoutError: a timed-out attempt ends the task."""

    @task(timeout=0.01, retries=3, retry_on=(ConnectionError,))
    async def hangs() -> None:
        await asyncio.sleep(10)

    async with Run("r", raise_errors=False) as run:
        handle = hangs()
    assert len(run.task(handle.id).attempts) == 1
    assert run.task(handle.id).timed_out


async def test_cancelling_a_task_with_a_timeout_is_a_cancellation() -> None:
    """An outside cancel is not turned into a TimeoutError."""

    @task(timeout=5.0)
    async def long() -> None:
        await asyncio.sleep(10)

    handle = long()
    await asyncio.sleep(0.005)
    handle.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handle
    assert handle.status is TaskStatus.CANCELLED


async def test_timeout_on_a_plain_def_task() -> None:
    """A plain function in a thread: the task times out (the thread finishes on its own)."""
    import threading

    release = threading.Event()
    handle = task(release.wait, timeout=0.01)(5.0)
    with pytest.raises(TimeoutError):
        await handle
    release.set()


# -- limits ----------------------------------------------------------------------------


def gauge() -> tuple[list[int], Any]:
    """An async body recording how many of its calls run at once."""
    peaks: list[int] = []
    running = [0]

    async def body(i: int, delay: float = 0.005) -> int:
        running[0] += 1
        peaks.append(running[0])
        await asyncio.sleep(delay)
        running[0] -= 1
        return i

    return peaks, body


async def test_limit_bounds_concurrent_calls_of_a_task() -> None:
    """limit=2 over 6 calls: never more than 2 bodies at once, all run, in call order."""
    peaks, body = gauge()
    work = task(body, limit=2)
    sink = RecordingSink()
    async with Run("r", sinks=[sink]) as run:
        handles = [work(i) for i in range(6)]
    assert [h.result() for h in handles] == list(range(6))
    assert max(peaks) == 2
    started = [e.task_id for e in sink.events if isinstance(e, TaskStarted)]
    assert started == [h.id for h in handles]  # first come, first served
    assert all(r.status is TaskStatus.OK for r in run.tasks)


async def test_tasks_waiting_for_a_slot_are_pending_and_not_running() -> None:
    """While waiting for a slot: pending (handle and record), no TaskStarted yet; its
    start comes after a slot holder ended, so the wait is not counted as running."""
    release = asyncio.Event()

    @task(limit=1)
    async def holder(i: int) -> int:
        await release.wait()
        return i

    sink = RecordingSink()
    async with Run("r", sinks=[sink]) as run:
        first, second = holder(1), holder(2)
        await asyncio.sleep(0.01)
        assert first.status is TaskStatus.RUNNING
        assert second.status is TaskStatus.PENDING
        assert run.task(second.id).status is TaskStatus.PENDING
        assert [e.task_id for e in sink.events if isinstance(e, TaskStarted)] == [first.id]
        release.set()
    first_end = next(e.ts for e in sink.events
                     if isinstance(e, TaskFinished) and e.task_id == first.id)
    second_start = next(e.ts for e in sink.events
                        if isinstance(e, TaskStarted) and e.task_id == second.id)
    assert second_start >= first_end
    waits = run.wait_breakdown()[second.id]
    record = run.task(second.id)
    before_start = (second_start - record.created_ns) / 1e9
    assert waits.running is not None
    assert waits.running < before_start  # the wait for the slot is not running time
    # It is its own part of the wait, apart from the loop's: call -> ready (no upstream)
    # -> slot (after the first ended) -> start.
    assert waits.limit_wait is not None and record.limit_wait == waits.limit_wait
    assert waits.limit_wait >= (first_end - record.created_ns) / 1e9 - 0.001
    assert waits.dependency_wait is not None and waits.loop_wait is not None
    assert waits.dependency_wait + waits.limit_wait + waits.loop_wait == \
        pytest.approx(before_start, abs=1e-6)
    assert record.loop_wait == pytest.approx(waits.loop_wait)
    assert run.task(first.id).limit_wait is not None  # it took a slot at once
    assert run.task(first.id).limit_wait < waits.limit_wait
    limit_waits = [e.limit_wait_ns for e in sink.events if isinstance(e, TaskStarted)]
    assert all(ns is not None and ns >= 0 for ns in limit_waits)


async def test_run_wide_limit_counts_every_task_of_the_run() -> None:
    """Run(limit=3): at most 3 bodies of two different functions at once."""
    peaks, body = gauge()
    a, b = task(body, name="a"), task(body, name="b")
    async with Run("r", limit=3):
        for i in range(5):
            a(i)
            b(i)
    assert max(peaks) == 3
    assert len(peaks) == 10


async def test_task_and_run_limits_together() -> None:
    """A task limit below the run's binds that task; the run's binds everyone."""
    peaks_a, body_a = gauge()
    peaks_b, body_b = gauge()
    a, b = task(body_a, limit=1), task(body_b)
    async with Run("r", limit=3):
        for i in range(4):
            a(i)
            b(i)
    assert max(peaks_a) == 1
    assert max(peaks_a) + max(peaks_b) <= 4  # a's one plus up to the run's rest
    assert max(peaks_b) <= 3


async def test_limit_is_shared_by_rewrapped_tasks_and_bound_methods() -> None:
    """task(f, dep) and a decorated method share the function's slots."""
    peaks, body = gauge()
    work = task(body, limit=1)
    ready = nap(0, 0.001)

    class Worker:
        @task(limit=1)
        async def run(self, i: int) -> int:
            return await body(i)

    assert task(work, ready).controls is not None
    assert task(work, ready).controls.limit is work.controls.limit  # type: ignore[union-attr]
    await asyncio.gather(work(1), task(work, ready)(2), work(3))
    assert max(peaks) == 1
    peaks.clear()
    w1, w2 = Worker(), Worker()
    await asyncio.gather(w1.run(1), w2.run(2))
    assert max(peaks) == 1


async def test_cancelled_while_waiting_for_a_slot_frees_nothing_twice() -> None:
    """A waiter cancelled before its turn: cancelled; the slot goes to the next one."""
    peaks, body = gauge()
    work = task(body, limit=1)
    first, second, third = work(1, 0.01), work(2), work(3)
    await asyncio.sleep(0.002)
    second.cancel()
    assert await third == 3
    assert await first == 1
    assert second.status is TaskStatus.CANCELLED
    assert max(peaks) == 1
    assert work.controls is not None and work.controls.limit is not None
    assert work.controls.limit.running(asyncio.get_running_loop()) == 0


def test_a_limit_works_under_successive_event_loops() -> None:
    """One task function, two asyncio.run calls: each loop has its own slots."""
    peaks, body = gauge()
    work = task(body, limit=2)

    async def main() -> list[int]:
        return list(await asyncio.gather(*(work(i) for i in range(4))))

    assert asyncio.run(main()) == [0, 1, 2, 3]
    assert asyncio.run(main()) == [0, 1, 2, 3]
    assert max(peaks) == 2


# -- fail_fast -------------------------------------------------------------------------


async def test_fail_fast_cancels_the_rest_and_raises_the_failure() -> None:
    """The first failure cancels independent tasks and the block; the run raises it."""
    reached = []
    with pytest.raises(ExceptionGroup) as raised:
        async with Run("r", fail_fast=True) as run:
            failing = boom()
            slow = nap(1, 10.0)
            await asyncio.sleep(10)
            reached.append("after the sleep")
    assert [type(e) for e in raised.value.exceptions] == [ValueError]
    assert reached == []
    assert run.task(failing.id).status is TaskStatus.FAILED
    assert run.task(slow.id).status is TaskStatus.CANCELLED
    assert not run.cancelled


async def test_without_fail_fast_independent_branches_finish() -> None:
    """The default: a failure skips only its dependents."""
    async with Run("r", raise_errors=False) as run:
        boom()
        other = nap(1, 0.02)
    assert run.task(other.id).status is TaskStatus.OK


async def test_fail_fast_while_the_block_awaits_a_task() -> None:
    """The block awaiting a task the stop cancelled still gets the failure, not a
    CancelledError."""
    with pytest.raises(ExceptionGroup) as raised:
        async with Run("r", fail_fast=True):
            boom()
            await nap(1, 10.0)
    assert [type(e) for e in raised.value.exceptions] == [ValueError]


async def test_fail_fast_without_raise_errors() -> None:
    """raise_errors=False: the block ends quietly, the failure is in run.failures."""
    async with Run("r", fail_fast=True, raise_errors=False) as run:
        boom()
        slow = nap(1, 10.0)
    assert [type(e) for e in run.failures] == [ValueError]
    assert run.task(slow.id).status is TaskStatus.CANCELLED


async def test_fail_fast_after_the_block_ended() -> None:
    """A failure while the run waits for its tasks in __aexit__ cancels the rest too."""
    with pytest.raises(ExceptionGroup):
        async with Run("r", fail_fast=True) as run:
            slow = nap(1, 10.0)
            task(boom, nap(0, 0.005))()  # fails after the block has ended
    assert run.task(slow.id).status is TaskStatus.CANCELLED


async def test_fail_fast_ignores_attempts_that_were_retried() -> None:
    """Only a final failure stops the run: a task that recovers does not."""
    fetch = task(flaky(1), retries=1, retry_delay=0.001)
    async with Run("r", fail_fast=True) as run:
        fetch()
        other = nap(1, 0.02)
    assert run.task(other.id).status is TaskStatus.OK


async def test_fail_fast_keeps_an_outside_cancellation() -> None:
    """Cancelled from outside as well as by the stop: the outside cancel wins
    (CancelledError, run.cancelled), the stop's own is taken back."""
    outer: asyncio.Task[None] | None = None

    def cancel_outer_on_failure(event: object) -> None:
        if isinstance(event, TaskFinished) and event.status is TaskStatus.FAILED:
            assert outer is not None
            outer.cancel()  # in the same step as the failure, before the stop runs

    run = Run("r", fail_fast=True, sinks=[cancel_outer_on_failure])

    async def main() -> None:
        async with run:
            boom()
            await asyncio.sleep(10)

    outer = asyncio.ensure_future(main())
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert run.cancelled
    assert outer.cancelling() == 1  # only the outside cancel is left


# -- checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "value", "fix"), [
    ("retries", -1, "an int of 0 or more"),
    ("retries", 1.5, "an int of 0 or more"),
    ("retries", True, "an int of 0 or more"),
    ("retry_delay", -0.1, "a number of 0 or more"),
    ("retry_delay", float("nan"), "a number of 0 or more"),
    ("retry_backoff", 0.5, "a number of 1 or more"),
    ("retry_max_delay", "1", "or None for no cap"),
    ("retry_jitter", 1.5, "a fraction from 0 to 1"),
    ("retry_on", (KeyboardInterrupt,), "a tuple of Exception subclasses"),
    ("retry_on", ("ValueError",), "a tuple of Exception subclasses"),
    ("retry_on", (asyncio.CancelledError,), "CancelledError"),
    ("timeout", 0, "a number above 0"),
    ("timeout", float("inf"), "a number above 0"),
    ("limit", 0, "an int of 1 or more"),
    ("limit", 2.0, "an int of 1 or more"),
])
def test_bad_options_are_refused_with_the_value_and_the_fix(
    option: str, value: object, fix: str
) -> None:
    """Each option is checked when the task is made, naming the bad value and the fix."""
    for make in (lambda: task(**{option: value}),  # as a decorator factory
                 lambda: task(nap.fn, **{option: value}),
                 lambda: aiodag.TaskFunction(nap.fn, **{option: value})):
        with pytest.raises(ValueError, match="is not valid") as raised:
            make()
        message = str(raised.value)
        assert f"{option}={value!r}" in message
        assert fix in message


def test_bad_run_options_are_refused() -> None:
    """Run(limit=...) and Run(fail_fast=...) are checked too."""
    with pytest.raises(ValueError, match=r"Run\(\): limit=0 is not valid.*1 or more"):
        Run("r", limit=0)
    with pytest.raises(TypeError, match=r"fail_fast='yes' is not valid; give True"):
        Run("r", fail_fast="yes")  # type: ignore[arg-type]


def test_options_show_in_the_repr() -> None:
    """A task function's repr names its options."""
    fetch = task(nap.fn, retries=3, timeout=2.5, limit=4)
    assert repr(fetch) == "<aiodag task 'nap' retries=3 timeout=2.5 limit=4>"
    assert repr(nap) == "<aiodag task 'nap'>"
    assert nap.controls is None


def test_rewrapping_keeps_options_and_overrides_the_given_ones() -> None:
    """task(fetch, retries=5) keeps fetch's timeout and limit, with 5 retries."""
    fetch = task(nap.fn, retries=1, timeout=2.0, limit=3)
    again = task(fetch, retries=5)
    assert again.controls is not None and fetch.controls is not None
    assert (again.controls.retries, again.controls.timeout) == (5, 2.0)
    assert again.controls.limit is fetch.controls.limit


async def test_fail_fast_failure_is_fatal_even_if_taken_as_an_outcome() -> None:
    """With fail_fast, a failure an outcome() taker or the block receives still fails
    the run: it stopped the run, so it was not handled."""
    with pytest.raises(ExceptionGroup) as raised:
        async with Run("r", fail_fast=True) as run:
            failing = boom()
            taker = task(nap, aiodag.outcome(failing))(1)
            with contextlib.suppress(ValueError):
                await failing
    assert [str(e) for e in raised.value.exceptions] == ["boom"]
    assert not run.task(failing.id).handled
    assert run.task(taker.id).status is TaskStatus.CANCELLED


async def test_a_task_waiting_for_a_slot_its_caller_holds_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Run(limit=1): a body holding the slot calls a task, which must wait for it.  Here
    the caller does not wait for it, so the run ends; the warning names the risk once."""

    @task
    async def parent() -> int:
        nap(1, 0.001)
        nap(2, 0.001)
        await asyncio.sleep(0.01)  # holds the slot meanwhile, but does not wait for them
        return 0

    with caplog.at_level(logging.WARNING, logger="aiodag"):
        async with Run("r", limit=1) as run:
            caller = parent()
    assert all(r.status is TaskStatus.OK for r in run.tasks)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert f"while its caller (task #{caller.id}) holds one" in warnings[0]
    assert "limit=1" in warnings[0]


@pytest.mark.parametrize("options", [
    {"timeout": 0.005},
    {"retries": 1, "retry_delay": 0.001},
    {"retries": 1, "retry_delay": 0.001, "timeout": 0.005},
])
async def test_records_keep_no_argument_values_of_failed_attempts(
    options: dict[str, Any],
) -> None:
    """As for any task's error (#10): the attempts' errors and the final one keep their
    lines, not the frames' locals, so an argument is freed with the run's data."""
    import gc
    import weakref

    class Big:
        pass

    @task(**options)
    async def fails(x: Big) -> None:
        if "timeout" in options:
            await asyncio.sleep(10)
        raise ValueError("no")

    big = Big()
    freed = weakref.ref(big)
    async with Run("r", raise_errors=False) as run:
        fails(big)
    del big
    gc.collect()
    assert freed() is None
    assert run.tasks[0].attempts  # the records are still there
