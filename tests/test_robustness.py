"""The engine never hangs, never leaks, and reports every failure of a run (#8).

Each test pins a defect found by trying to break the engine: it failed (or hung)
before the fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import logging
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import aiodag
from aiodag import Run, TaskStatus, UpstreamError, task
from aiodag.events import Event, TaskCreated, TaskFinished, TaskStarted
from aiodag.handle import alive_handles


class Boom(Exception):
    """A task's own failure."""


@task
async def ok(value: int = 1) -> int:
    await asyncio.sleep(0.001)
    return value


@task
async def fail(msg: str = "boom") -> int:
    await asyncio.sleep(0.001)
    raise Boom(msg)


@task
async def add(a: int, b: int = 0) -> int:
    return a + b


def run_script(code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter; a hang fails the test instead of hanging it."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )


# -- sinks that raise BaseException ----------------------------------------------------

@pytest.mark.parametrize("event", ["TaskStarted", "TaskFinished"])
@pytest.mark.parametrize("raise_", ["sys.exit(3)", "raise KeyboardInterrupt"])
def test_a_sink_raising_systemexit_or_keyboardinterrupt_ends_the_process(
    event: str, raise_: str
) -> None:
    """The process ends as plain asyncio code would: exit status 3 / KeyboardInterrupt."""
    result = run_script(f"""
        import asyncio, sys
        from aiodag import Run, task
        from aiodag.events import {event}

        @task
        async def step(x):
            await asyncio.sleep(0.01)
            return x

        def fail_fast(event):
            if isinstance(event, {event}) and event.task_id == 2:
                {raise_}

        async def main():
            async with Run(sinks=[fail_fast]):
                step(step(step(1)))
                step(2)

        asyncio.run(main())
        print("not reached")
    """)
    if "exit" in raise_:
        assert result.returncode == 3, result.stderr
    else:
        assert "KeyboardInterrupt" in result.stderr
        assert result.returncode != 0
    assert "not reached" not in result.stdout


@pytest.mark.parametrize("event_type", [TaskStarted, TaskFinished])
async def test_a_sink_raising_cancelled_error_still_lets_the_task_report_its_end(
    event_type: type,
) -> None:
    """The task's end reaches the run and its dependents: nothing waits for ever."""
    seen: list[Event] = []

    def sink(event: Event) -> None:
        seen.append(event)
        if isinstance(event, event_type) and event.task_id == first.id:  # type: ignore[attr-defined]
            raise asyncio.CancelledError

    async with asyncio.timeout(5):
        async with Run(sinks=[sink], raise_errors=False) as run:
            first = ok(1)
            dependent = add(first, 1)
    assert run.task(first.id).status.is_terminal
    assert run.task(dependent.id).status.is_terminal
    if event_type is TaskStarted:
        assert first.cancelled()  # raised in the task, before its body: it did not run
    else:
        # Raised after the task had ended (its end is settled a step later): nothing is
        # left to cancel, and its dependent ran on its result.
        assert first.result() == 1 and dependent.result() == 2
    finished = [e for e in seen if isinstance(e, TaskFinished)]
    assert {e.task_id for e in finished} == {first.id, dependent.id}


async def test_a_sink_raising_systemexit_on_creation_leaves_no_task_behind() -> None:
    """The call raises; no task was created, none runs, the run does not wait for it."""
    ran: list[str] = []

    @task
    async def body(name: str) -> None:
        ran.append(name)

    def sink(event: Event) -> None:
        if isinstance(event, TaskCreated) and event.label == "body('bad')":
            raise SystemExit(4)

    async with asyncio.timeout(5):
        async with Run(sinks=[sink]) as run:
            body("good")
            with pytest.raises(SystemExit):
                body("bad")
    await asyncio.sleep(0.01)
    assert ran == ["good"]
    assert [r.label for r in run.tasks] == ["body('good')"]
    loop = asyncio.get_running_loop()
    assert not [h for h in alive_handles(loop) if h.name == "body"]


# -- nesting of any depth -----------------------------------------------------------------

async def test_a_handle_nested_thousands_of_containers_deep_is_resolved() -> None:
    @task
    async def depth(value: Any) -> tuple[int, Any]:
        n = 0
        while isinstance(value, list | tuple | dict):
            value = value[0] if not isinstance(value, dict) else value["k"]
            n += 1
        return n, value

    arg: Any = ok(5)
    for i in range(5000):
        arg = [arg] if i % 3 == 0 else (arg,) if i % 3 == 1 else {"k": arg}
    async with asyncio.timeout(5):
        async with Run() as run:
            result = await depth(arg)
    assert result == (5000, 5)
    assert all(r.status is TaskStatus.OK for r in run.tasks)


async def test_nested_cycles_and_shared_containers_are_rebuilt_faithfully() -> None:
    @task
    async def echo(value: Any) -> Any:
        return value

    h = ok(3)
    shared = [h]
    cyclic: list[Any] = [h]
    cyclic.append(cyclic)
    result = await echo({"a": shared, "b": shared, "c": cyclic, "t": (h, [h])})
    assert result["a"] == [3] and result["a"] is result["b"]
    assert result["c"][0] == 3 and result["c"][1] is result["c"]
    assert result["t"] == (3, [3])


# -- failures from outside the run ---------------------------------------------------------

async def test_a_failure_from_outside_the_run_fails_the_run_naming_its_source() -> None:
    outside = fail("outside")
    await asyncio.sleep(0.02)
    assert outside.done()
    with pytest.raises(ExceptionGroup) as group:
        async with Run("inside") as run:
            add(outside, 1)
    assert run.failures == [outside.exception()]
    assert group.value.exceptions == (outside.exception(),)
    notes = getattr(outside.exception(), "__notes__", [])
    assert any(f"fail#{outside.id}" in note and "outside run 'inside'" in note
               for note in notes)


async def test_a_body_reraising_an_outside_failure_fails_the_run() -> None:
    outside = fail("outside")

    @task
    async def awaits() -> int:
        return await outside

    with pytest.raises(ExceptionGroup) as group:
        async with Run() as run:
            h = awaits()
    assert run.task(h.id).status is TaskStatus.FAILED
    assert [str(e) for e in group.value.exceptions] == ["outside"]


# -- handled failures ----------------------------------------------------------------------

async def test_a_failure_handled_by_a_retry_loop_does_not_fail_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """It stays a failed task, marked handled; no error is logged; the run succeeds."""
    attempts: list[int] = []

    @task
    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "data"

    @task
    async def robust() -> str:
        for _ in range(5):
            try:
                return await flaky()
            except ConnectionError:
                continue
        raise RuntimeError("gave up")

    caplog.set_level(logging.ERROR)
    async with Run() as run:
        result = robust()
    assert result.result() == "data"
    assert run.failures == []
    failed = [r for r in run.tasks if r.status is TaskStatus.FAILED]
    assert len(failed) == 2 and all(r.handled for r in failed)
    assert not [r for r in caplog.records if r.name == "aiodag"]


async def test_a_failure_handled_somewhere_but_passed_on_elsewhere_still_fails_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)

    @task
    async def tolerant(h: Any) -> None:
        with contextlib.suppress(Boom):
            await h

    with pytest.raises(ExceptionGroup) as group:
        async with Run() as run:
            f = fail("once")
            tolerant(f)     # handles it...
            add(f, 1)       # ...but this dependent is stopped by it
    assert [str(e) for e in group.value.exceptions] == ["once"]
    assert not run.task(f.id).handled
    assert len([r for r in caplog.records if r.name == "aiodag"]) == 1


async def test_an_unhandled_failure_with_no_dependents_is_logged_once_at_run_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    with pytest.raises(ExceptionGroup):
        async with Run():
            fail("alone")
    logged = [r for r in caplog.records if r.name == "aiodag"]
    assert len(logged) == 1 and "fail#" in logged[0].getMessage()


# -- memory: keep-alive, bursts ------------------------------------------------------------

def test_handles_pending_when_their_loop_is_closed_are_not_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """They go with the loop, and asyncio still says they were destroyed pending."""
    caplog.set_level(logging.ERROR, logger="asyncio")
    loop = asyncio.new_event_loop()
    never: asyncio.Future[int] = loop.create_future()
    refs: list[weakref.ref[Any]] = []

    async def start(upstream: asyncio.Future[int]) -> None:
        for _ in range(100):
            refs.append(weakref.ref(add(upstream, 1)))  # waiting on a plain future
            refs.append(weakref.ref(add(add(upstream, 1), 2)))  # ...and on a handle
        await asyncio.sleep(0)

    loop.run_until_complete(start(never))
    loop.close()
    del loop, never
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 0
    destroyed = [r for r in caplog.records if "destroyed but it is pending" in r.getMessage()]
    assert len(destroyed) == 300  # each handle, once
    assert all("name='add#" in r.getMessage() for r in destroyed)


async def test_a_burst_of_tasks_leaves_no_memory_behind() -> None:
    @task
    async def noop(i: int) -> int:
        return i

    async def burst() -> None:
        for i in range(30_000):
            noop(i)  # fire and forget: the engine keeps them alive until they end
        await aiodag.wait_for_tasks()

    await burst()  # warm-up: caches, free lists
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        await burst()
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # A set that grew to 30,000 handles and kept its size holds ~1 MB.
    assert retained < 200_000, f"{retained:,} bytes retained after the burst"


@pytest.mark.parametrize("upstream", ["handle", "future"])
def test_cancelling_many_dependents_of_one_upstream_is_linear(upstream: str) -> None:
    """Doubling the dependents three times costs ~8x, not ~64x (quadratic)."""

    @task
    async def wait_for(gate: asyncio.Future[int]) -> int:
        return await gate

    async def cancel_all(n: int) -> float:
        gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        up = wait_for(gate) if upstream == "handle" else gate
        handles = [add(up, i) for i in range(n)]
        await asyncio.sleep(0)
        start = time.perf_counter()
        for h in handles:
            h.cancel()
        await asyncio.gather(*handles, return_exceptions=True)
        elapsed = time.perf_counter() - start
        gate.cancel()
        return elapsed

    # The collector off: it is the engine's own work whose growth is checked here (the
    # cyclic GC adds its own, and bench/ measures with it on).
    gc.disable()
    try:
        small = min(asyncio.run(cancel_all(2_500)) for _ in range(3))
        large = min(asyncio.run(cancel_all(20_000)) for _ in range(2))
    finally:
        gc.enable()
    assert large / small < 24, f"{small:.4f}s for 2,500, {large:.4f}s for 20,000"


# -- plain functions in an executor ----------------------------------------------------------

async def test_a_plain_task_cancelled_while_queued_never_started() -> None:
    busy, release = threading.Event(), threading.Event()

    def occupy() -> None:
        busy.set()
        release.wait(5)

    def work() -> int:
        return 1

    with ThreadPoolExecutor(max_workers=1) as pool:
        async with Run(raise_errors=False) as run:
            blocker = task(occupy, executor=pool)()
            await asyncio.to_thread(busy.wait, 5)
            queued = task(work, executor=pool)()
            await asyncio.sleep(0.01)
            queued.cancel()
            await asyncio.sleep(0.01)
            release.set()
            await blocker
    record = run.task(queued.id)
    assert record.status is TaskStatus.CANCELLED
    assert record.started is None and record.duration is None


async def test_a_coroutine_handed_back_by_a_cancelled_plain_task_is_closed() -> None:
    """No 'coroutine ... was never awaited' when the task was cancelled meanwhile."""
    started, go = threading.Event(), threading.Event()

    async def later() -> int:
        return 1

    def hands_back() -> Any:
        started.set()
        go.wait(5)
        return later()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = task(hands_back)()
        await asyncio.to_thread(started.wait, 5)
        h.cancel()
        await asyncio.sleep(0)
        go.set()
        with pytest.raises(asyncio.CancelledError):
            await h
        await asyncio.sleep(0.05)
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]


# -- asyncio's Task API -----------------------------------------------------------------------

async def test_get_coro_and_get_stack_show_the_body_not_the_engine() -> None:
    gate = asyncio.Event()

    @task
    async def body() -> None:
        await gate.wait()

    h = body()
    await asyncio.sleep(0)
    coro = h.get_coro()
    assert coro.__qualname__.endswith("body")
    stack = h.get_stack()
    assert [f.f_code.co_name for f in stack] == ["body"]
    gate.set()
    await h


def test_in_debug_mode_the_creation_traceback_ends_at_the_users_call() -> None:
    async def main() -> list[Any]:
        h = ok(1)  # the call
        await h
        return list(h._source_traceback)  # type: ignore[attr-defined]

    tb = asyncio.run(main(), debug=True)
    assert tb[-1].filename == __file__ and tb[-1].line == "h = ok(1)  # the call"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager task factories are 3.12+")
def test_an_eager_task_factory_starts_ready_handles_at_once() -> None:
    ran: list[int] = []

    @task
    async def record(x: int) -> int:
        ran.append(x)
        return x

    events: list[Event] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
        async with Run(sinks=[events.append]) as run:
            h = record(1)
            assert ran == [1] and h.done()  # ran inside the call
            later = record(add(h, 1))  # its upstream is done: it runs inside the call too
            assert ran == [1, 2] and later.done()
        assert [r.status for r in run.tasks] == [TaskStatus.OK] * 3
        kinds = [(type(e).__name__, e.task_id) for e in events if hasattr(e, "task_id")]
        assert kinds[:3] == [("TaskCreated", h.id), ("TaskStarted", h.id),
                             ("TaskFinished", h.id)]

    asyncio.run(main())


async def test_context_runs_the_task_in_the_given_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="caller")

    @task
    async def read() -> str:
        return var.get()

    ctx = contextvars.copy_context()
    ctx.run(var.set, "given")
    assert await task(read, context=ctx)() == "given"
    assert await read() == "caller"
    with pytest.raises(TypeError, match=r"contextvars\.Context"):
        task(read, context={"var": 1})  # type: ignore[arg-type]


# -- aiodag.run -----------------------------------------------------------------------------

def test_aiodag_run_waits_for_fire_and_forget_tasks() -> None:
    """The README's 'tasks added dynamically' shape: asyncio.run loses tasks, aiodag.run not."""
    finished: list[int] = []

    @task
    async def step(i: int) -> None:
        await asyncio.sleep(0.02)
        finished.append(i)

    @task
    async def spawner(i: int) -> None:
        await asyncio.sleep(0.01)
        step(i)  # fire and forget, called from a task

    async def main() -> str:
        for i in range(5):
            spawner(i)
            await asyncio.sleep(0.001)
        return "done"

    asyncio.run(main())
    assert len(finished) < 5  # what the README warns about
    finished.clear()
    assert aiodag.run(main()) == "done"
    assert sorted(finished) == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match=r"aiodag\.run\(main\(\)\)"):
        aiodag.run(main)  # type: ignore[arg-type]


def test_upstream_error_names_the_root() -> None:
    async def main() -> UpstreamError:
        h = add(add(fail("root"), 1), 2)
        with pytest.raises(UpstreamError) as info:
            await h
        return info.value

    error = asyncio.run(main())
    assert error.root.startswith("fail#") and isinstance(error.__cause__, UpstreamError)


# -- found in review: what a failure must never do ---------------------------------------

async def test_recording_a_failure_never_touches_frames_of_code_still_running() -> None:
    """A dispatcher that hands errors to requesters keeps serving (its frame is in the
    error's traceback; clearing it closed the coroutine on 3.11 and 3.12)."""

    async def dispatcher(queue: asyncio.Queue[tuple[asyncio.Future[str], str]]) -> None:
        while True:
            fut, job = await queue.get()
            try:
                if job == "bad":
                    raise ValueError("bad job")
                fut.set_result(job)
            except ValueError as exc:
                fut.set_exception(exc)

    async def request(queue: asyncio.Queue[Any], job: str) -> str:
        fut = asyncio.get_running_loop().create_future()
        await queue.put((fut, job))
        return await fut  # type: ignore[no-any-return]

    @task
    async def step(queue: asyncio.Queue[Any], job: str) -> str:
        return await request(queue, job)

    queue: asyncio.Queue[Any] = asyncio.Queue()
    server = asyncio.create_task(dispatcher(queue))
    async with Run(raise_errors=False) as run:
        step(queue, "bad")
    assert [str(e) for e in run.failures] == ["bad job"]
    assert await asyncio.wait_for(request(queue, "good"), 2) == "good"
    server.cancel()


async def test_a_failed_plain_future_upstream_fails_the_run_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="aiodag")
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    fut.set_exception(ConnectionError("db down"))
    with pytest.raises(ExceptionGroup) as group:
        async with Run():
            add(fut, 1)
    assert [str(e) for e in group.value.exceptions] == ["db down"]
    assert len([r for r in caplog.records if "db down" in str(r.exc_info)]) == 1


async def test_only_a_task_body_that_ends_normally_handles_a_failure() -> None:
    """asyncio's own reads (gather's callbacks), plain asyncio tasks, and bodies that end
    cancelled do not handle a failure: the run fails."""
    # gather: its callbacks read every failure, but no body received the second, and
    # the first reached the block through gather's own future, not from the handle.
    with pytest.raises(ExceptionGroup) as group:
        async with Run():
            with contextlib.suppress(Boom):
                await asyncio.gather(fail("first"), add(ok(1), 1), task(_fail_late)())
            await asyncio.sleep(0.05)
    assert sorted(str(e) for e in group.value.exceptions) == ["first", "late"]

    # A plain asyncio task awaits the failure and dies of it.
    async def publish(h: Any) -> None:
        await h

    with pytest.raises(ExceptionGroup):
        async with Run():
            plain = asyncio.create_task(publish(fail("to a plain task")))
            await asyncio.sleep(0.02)
    with pytest.raises(Boom):
        plain.result()

    # A retry loop that is cancelled after catching.
    @task
    async def retry_then_cancelled() -> None:
        with contextlib.suppress(Boom):
            await fail("caught")
        await asyncio.sleep(10)

    with pytest.raises(ExceptionGroup) as group:
        async with Run():
            h = retry_then_cancelled()
            await asyncio.sleep(0.02)
            h.cancel()
    assert [str(e) for e in group.value.exceptions] == ["caught"]


async def _fail_late() -> None:
    await asyncio.sleep(0.02)
    raise Boom("late")


def test_a_failure_whose_only_dependent_was_cancelled_before_starting_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)

    async def main() -> None:
        h = fail("lost")
        await asyncio.sleep(0.01)
        dependent = add(h, 1)
        dependent.cancel()
        await asyncio.sleep(0.01)

    asyncio.run(main())
    gc.collect()
    assert len([r for r in caplog.records if "lost" in str(r.exc_info)]) == 1


def test_every_sink_gets_the_event_before_a_sinks_base_exception_propagates() -> None:
    """A fail-fast sink listed first does not cost the next sink (a trace) the event."""
    result = run_script("""
        import asyncio, sys
        from aiodag import Run, task
        from aiodag.events import TaskFinished

        @task
        async def fails():
            raise ValueError("boom")

        def fail_fast(event):
            if isinstance(event, TaskFinished) and event.status == "failed":
                sys.exit(1)

        def recorder(event):
            print(type(event).__name__, flush=True)

        async def main():
            async with Run(sinks=[fail_fast, recorder]):
                fails()

        asyncio.run(main())
    """)
    assert result.returncode == 1, result.stderr
    assert "TaskFinished" in result.stdout.split()


async def test_wait_for_tasks_called_from_a_task_does_not_wait_for_itself() -> None:
    @task
    async def waits_for_the_rest() -> str:
        ok(1)
        await aiodag.wait_for_tasks()
        return "done"

    assert await asyncio.wait_for(waits_for_the_rest(), 2) == "done"


async def test_tasks_made_on_another_loop_do_not_join_this_loops_run() -> None:
    """A plain function in a worker thread runs a loop of its own: its tasks are not the
    run's (the run could neither wait for them nor cancel them)."""

    def worker() -> int:
        async def inner() -> int:
            return await ok(2)

        return asyncio.run(inner())

    async with asyncio.timeout(5):
        async with Run() as run:
            assert await task(worker)() == 2
    assert [r.name for r in run.tasks] == ["worker"]


async def test_an_inner_runs_failures_do_not_make_the_outer_run_cancel_its_branches() -> None:
    """The inner run raises its tasks' failures as a group; for the outer run they are
    still tasks' failures, passed on: its independent branches run on."""
    with pytest.raises(ExceptionGroup) as group:
        async with Run("outer") as outer:
            branch = ok(7)
            slow_branch = task(_sleep_then)(0.05)
            async with Run("inner"):
                fail("inner failure")
    assert [str(e) for e in group.value.exceptions] == ["inner failure"]
    assert outer.task(branch.id).status is TaskStatus.OK
    assert outer.task(slow_branch.id).status is TaskStatus.OK


async def _sleep_then(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


async def test_tasks_sharing_one_context_start_one_after_another() -> None:
    """task(fn, context=ctx): a dependent is started from its upstream's settling, which
    runs in that same context, so it must not start eagerly there (a context cannot be
    entered twice; on 3.12+ the chain failed with RuntimeError and never finished)."""
    ctx = contextvars.copy_context()
    step = task(add, context=ctx)
    h = step(step(step(1, 1), 1), 1)
    assert await asyncio.wait_for(h, 5) == 4


# -- found by review of the rewritten engine (issue 9) --------------------------------------

async def test_get_coro_of_a_dependent_that_finished_in_its_first_step() -> None:
    """asyncio's own Task.get_coro() crashed the interpreter (3.12.0-3.12.4, gh-122332)
    on a task that completed eagerly, as the engine starts dependents on 3.12+."""

    @task
    async def inc(x: int) -> int:
        return x + 1  # no suspension: done within its (eager) first step

    h = inc(ok(1))
    assert await h == 2
    coro = h.get_coro()
    assert coro is None or coro.__qualname__.endswith("inc")
    assert "status=ok" in repr(h)


async def test_a_body_cancelling_a_sibling_dependent_stops_no_other() -> None:
    """Dependents made ready together start one after another; one that cancels the next
    (a race, a watchdog) must not stop the rest from starting."""
    up = ok(1)
    victim_box: list[Any] = []

    @task
    async def canceller(x: int) -> None:
        victim_box[0].cancel()

    @task
    async def victim(x: int) -> None:
        await asyncio.sleep(10)

    first = canceller(up)
    victim_box.append(victim(up))
    bystander = add(up, 1)
    assert await asyncio.wait_for(bystander, 5) == 2
    await first
    with pytest.raises(asyncio.CancelledError):
        await victim_box[0]


def test_keyboardinterrupt_in_a_first_step_leaves_the_other_dependents_to_run() -> None:
    """REPL or notebook style: the loop is resumed after a KeyboardInterrupt; the other
    dependents made ready by the same upstream still run."""

    @task
    async def interrupts(x: int) -> None:
        raise KeyboardInterrupt

    loop = asyncio.new_event_loop()
    try:
        async def make() -> tuple[Any, ...]:
            up = ok(1)
            return interrupts(up), add(up, 1), add(up, 2)

        _bad, g1, g2 = loop.run_until_complete(make())
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(asyncio.sleep(0.1))

        async def check() -> list[int]:
            return await asyncio.wait_for(asyncio.gather(g1, g2), 5)

        assert loop.run_until_complete(check()) == [2, 3]
    finally:
        loop.close()


async def test_code_awaiting_a_waiting_handle_and_cancelled_waits_for_its_end() -> None:
    """As awaiting any task: the cancellation goes to the handle, and the awaiting code
    resumes once the handle has ended (here, with the value it returned on cancel)."""
    log: list[str] = []

    @task
    async def cleans_up(x: int) -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0.02)
            log.append("cleaned up")
            return "suppressed"
        return "not reached"

    h = cleans_up(ok(1))  # waiting for its upstream when awaited

    async def awaiter() -> str:
        return await h

    waiting = asyncio.ensure_future(awaiter())
    await asyncio.sleep(0)
    await asyncio.sleep(0.03)  # h runs now
    waiting.cancel()
    assert await waiting == "suppressed"
    assert log == ["cleaned up"]


async def test_a_name_set_by_the_body_in_its_first_step_stays() -> None:
    @task
    async def names_itself(x: int) -> str:
        current = asyncio.current_task()
        assert current is not None
        current.set_name("my-name")
        await asyncio.sleep(0)
        return current.get_name()

    h = names_itself(ok(1))
    assert await h == "my-name" and h.get_name() == "my-name"


def test_a_call_refused_for_a_future_of_another_loop_leaves_no_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The call raises its clear ValueError; the handle it never made is not reported as
    "destroyed but pending", nor does its repr fail."""
    other = asyncio.new_event_loop()
    foreign = other.create_future()

    async def main() -> None:
        with pytest.raises(ValueError, match="another event loop"):
            add(foreign, 1)

    asyncio.run(main())
    other.close()
    gc.collect()
    err = capsys.readouterr().err
    assert "destroyed but it is pending" not in err and "Exception in" not in err


def test_a_long_failing_chain_settles_in_linear_time(caplog: pytest.LogCaptureFixture) -> None:
    """Each task a failure stops finds the failure's root without walking the whole chain
    of UpstreamErrors behind it again (it did: 100,000 links never finished)."""
    caplog.set_level(logging.CRITICAL)

    @task
    async def fails() -> int:
        raise ValueError("at the root")

    async def chain(n: int) -> float:
        h = fails()
        for _ in range(n):
            h = add(h)
        start = time.perf_counter()
        await asyncio.gather(h, return_exceptions=True)
        return time.perf_counter() - start

    gc.disable()  # (as in the test above: the engine's own growth)
    try:
        small = min(asyncio.run(chain(1_000)) for _ in range(3))
        large = min(asyncio.run(chain(8_000)) for _ in range(2))
    finally:
        gc.enable()
    assert large / small < 24, f"{small:.4f}s for 1,000, {large:.4f}s for 8,000"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager task factories are 3.12+")
def test_keyboardinterrupt_in_an_eager_first_step_ends_the_run() -> None:
    """The call raises KeyboardInterrupt (the body's first step ran inside it), the
    task is recorded as failed once, and the run ends (it waited for ever before: the
    task was both refused and settled, so the run counted it out twice)."""

    @task
    async def stop() -> None:
        raise KeyboardInterrupt

    async def main() -> Run:
        asyncio.get_running_loop().set_task_factory(
            asyncio.eager_task_factory)  # type: ignore[attr-defined]
        async with asyncio.timeout(5):
            async with Run("r", raise_errors=False) as run:
                with pytest.raises(KeyboardInterrupt):
                    stop()
                await asyncio.sleep(0.01)
        return run

    run = asyncio.run(main())
    assert [(r.label, r.status) for r in run.tasks] == [("stop()", TaskStatus.FAILED)]
    assert run.counts()[TaskStatus.FAILED] == 1 and not run.running
