"""Calls sent to other processes (aiodag.remote): process pools, the hook, the errors."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from aiodag import Run, TaskStatus, task
from aiodag.remote import RemoteCallError
from aiodag.remotehook import RemoteFacts, remote_hook, set_remote_hook

# Worker processes are spawned: forking a process that runs threads (the tests' own,
# the loop's executor) is unsafe, and 3.12+ warns about it.
SPAWN = multiprocessing.get_context("spawn")


def pid_and_value(x: int) -> tuple[int, int]:
    return os.getpid(), x * 2


def carrier_seen(carrier: dict[str, str], fn: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
    """A worker-side `enter`: hands the carrier back beside the result."""
    return carrier, fn(*args, **kwargs)


def raises_value_error() -> None:
    raise ValueError("bad row")


class RecordingHook:
    """An engine-level hook without OpenTelemetry: a fixed carrier, facts recorded."""

    enter = staticmethod(carrier_seen)

    def __init__(self) -> None:
        self.facts: list[RemoteFacts] = []

    def capture(self) -> dict[str, str] | None:
        return {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}

    def observe(self, facts: RemoteFacts) -> None:
        self.facts.append(facts)


@pytest.fixture
def hook() -> Iterator[RecordingHook]:
    hook = RecordingHook()
    previous = set_remote_hook(hook)
    yield hook
    set_remote_hook(previous)


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(1, mp_context=SPAWN) as pool:
        yield pool


async def test_process_pool_call_carries_the_hook_carrier(
    pool: ProcessPoolExecutor, hook: RecordingHook
) -> None:
    """The carrier travels to the worker process; the facts come back to the hook."""
    carrier, (pid, value) = await task(pid_and_value, executor=pool)(21)
    assert carrier == hook.capture()
    assert value == 42 and pid != os.getpid()
    [facts] = hook.facts
    assert facts.worker.endswith(f":{pid}")
    assert facts.submitted_ns <= facts.started_ns <= facts.finished_ns
    assert facts.queued_s >= 0 and facts.running_s >= 0


async def test_function_exception_keeps_its_type_and_reports_its_facts(
    pool: ProcessPoolExecutor, hook: RecordingHook
) -> None:
    """The function's own exception is raised as it is, and still reports where it ran."""
    with pytest.raises(ValueError, match="bad row"):
        await task(raises_value_error, executor=pool)()
    assert len(hook.facts) == 1


async def test_unpicklable_argument_names_the_task_and_the_cause(
    pool: ProcessPoolExecutor,
) -> None:
    """An argument that cannot go to the process: failed, a clear error, no hang."""
    async with Run("pickle", raise_errors=False) as run:
        handle = task(pid_and_value, executor=pool)(threading.Lock())
        dependent = task(pid_and_value, executor=pool)(handle)
    with pytest.raises(RemoteCallError) as info:
        await asyncio.wait_for(handle, 30)
    message = str(info.value)
    assert f"pid_and_value#{handle.id}" in message
    assert "ProcessPoolExecutor" in message and "pickle" in message and "lock" in message
    assert run.task(dependent.id).status is TaskStatus.UPSTREAM_FAILED


def test_no_hook_by_default_in_the_engine() -> None:
    """The engine installs no hook of its own (the trace package registers one)."""
    code = "import aiodag, aiodag.remotehook as r; assert r.remote_hook() is None"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bad_executor_is_refused_with_the_fix() -> None:
    """executor= must be able to run calls: the error shows the value and the choices."""
    with pytest.raises(TypeError, match=r"executor= must be .*Executor.*Client, got 'pool'"):
        task(pid_and_value, executor="pool")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Run\(\): executor= must be"):
        Run("r", executor=3)  # type: ignore[arg-type]


# -- tracing through a process pool ---------------------------------------------------

def traced_in_worker(x: int) -> str:
    from opentelemetry import trace

    with trace.get_tracer("worker-code").start_as_current_span("inner") as span:
        return format(span.get_span_context().trace_id, "032x")


async def test_process_pool_spans_are_children_of_the_task_span(tmp_path: Path) -> None:
    """With tracing on, a span made in a pool's worker has the task's span as parent."""
    pytest.importorskip("opentelemetry.sdk", reason="needs the aiodag[trace] extra")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from aiodag.trace import OpenTelemetrySink, ProcessTracing
    from aiodag.trace import attributes as attr

    previous = remote_hook()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = ProcessTracing("pool", file=tmp_path / "pool.jsonl")
    try:
        with ProcessPoolExecutor(1, mp_context=SPAWN, initializer=tracing) as pool:
            async with Run("traced", sinks=[OpenTelemetrySink(provider)]):
                handle = task(traced_in_worker, executor=pool)(1)
            trace_id = await handle
        # The pool has shut down: its worker flushed its file on the way out.
    finally:
        set_remote_hook(previous)
    [task_span] = [s for s in exporter.get_finished_spans() if s.name == "traced_in_worker"]
    assert format(task_span.context.trace_id, "032x") == trace_id
    assert task_span.attributes is not None
    assert str(task_span.attributes[attr.TASK_WORKER]).endswith(tuple("0123456789"))
    [written] = tmp_path.glob("pool-*.jsonl")  # noqa: ASYNC240  # (a test's tmp dir)
    inner = [span for line in written.read_text().splitlines()
             for resource in json.loads(line)["resourceSpans"]
             for scope in resource["scopeSpans"] for span in scope["spans"]]
    assert [(s["name"], s["traceId"], s["parentSpanId"]) for s in inner] == [
        ("inner", trace_id, format(task_span.context.span_id, "016x"))
    ]



class BrokenHook(RecordingHook):
    def capture(self) -> dict[str, str] | None:
        raise RuntimeError("capture broke")

    def observe(self, facts: RemoteFacts) -> None:
        raise RuntimeError("observe broke")


async def test_a_failing_hook_never_breaks_the_call(
    pool: ProcessPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    """An observer that raises is logged once; the calls run without a carrier."""
    previous = set_remote_hook(BrokenHook())
    try:
        results = [await task(pid_and_value, executor=pool)(i) for i in (1, 2)]
    finally:
        set_remote_hook(previous)
    assert [value for _, value in results] == [2, 4]  # no carrier: `enter` never ran
    failures = [r for r in caplog.records if "remote-call hook" in r.getMessage()]
    assert len(failures) == 1 and "capture" in failures[0].getMessage()


def test_remote_call_error_pickles() -> None:
    """It can cross processes itself (a pipeline inside a worker)."""
    import pickle

    error = pickle.loads(pickle.dumps(RemoteCallError("f#1", "did not run: KilledWorker")))
    assert (type(error), str(error), error.task) == (
        RemoteCallError, "task f#1 did not run: KilledWorker", "f#1")


def sleep_then(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


async def test_a_call_cancelled_while_queued_is_recorded_as_never_started(
    pool: ProcessPoolExecutor,
) -> None:
    """With the pool's one worker busy, a queued call cancelled never began: its
    record shows no start (a start time there was a number next to the wrong task).
    (The pool hands a few calls to its workers' queue ahead of time, and those can no
    longer be cancelled: they may have begun, and keep their start.  So the call
    cancelled here comes after several.)"""
    async with Run("queued", raise_errors=False) as run:
        busy = task(sleep_then, executor=pool)(0.5)
        ahead = [task(sleep_then, executor=pool)(0.0) for _ in range(3)]
        queued = task(sleep_then, executor=pool)(0.0)
        await asyncio.sleep(0.1)
        queued.cancel()
    record = run.task(queued.id)
    assert record.status is TaskStatus.CANCELLED
    assert record.started is None and record.duration is None
    assert all(run.task(h.id).started is not None for h in [busy, *ahead])
