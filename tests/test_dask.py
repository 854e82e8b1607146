"""Task bodies on a real Dask cluster: a LocalCluster of 2 worker processes on 127.0.0.1.

One cluster for the whole module (starting one takes about a second); each test
connects its own client, asynchronous on the test's loop or synchronous on its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed", reason="needs the aiodag[dask] extra")
import dask  # noqa: E402  (after the skip: only with the extra)
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from aiodag import Run, TaskStatus, UpstreamError, task  # noqa: E402
from aiodag.remote import RemoteCallError  # noqa: E402
from aiodag.trace import OpenTelemetrySink  # noqa: E402
from aiodag.trace import attributes as attr  # noqa: E402
from aiodag.trace.dask import TracingPlugin  # noqa: E402
from aiodag.trace.workers import flush_traces  # noqa: E402

Client = distributed.Client


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two worker processes, one thread each, loopback only, no dashboards."""
    # A worker that dies fails its task at once (Dask's default retries it 3 times).
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0", worker_dashboard_address=None,
    ) as cluster:
        yield cluster


@pytest.fixture
async def client(cluster: Any) -> Any:
    """An asynchronous client on the test's own event loop."""
    async with Client(cluster.scheduler_address, asynchronous=True) as client:
        yield client


# -- task functions (module level: the workers import them) ---------------------------

def square(x: int) -> int:
    return x * x


def total(*values: int) -> int:
    return sum(values)


def where() -> int:
    return os.getpid()


def sum_of(values: list[int], named: dict[str, int]) -> int:
    return sum(values) + sum(named.values())


def length(data: list[int]) -> int:
    return len(data)


def fails(x: int) -> int:
    raise KeyError(f"no row {x}")


def dies() -> None:
    os._exit(3)  # the worker process dies mid-task


def sleeps(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def traced_work(x: int) -> dict[str, str]:
    with trace.get_tracer("worker-code").start_as_current_span("inner") as span:
        ctx = span.get_span_context()
        return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


# -- results ---------------------------------------------------------------------------

async def test_task_runs_on_the_cluster_with_an_asynchronous_client(client: Any) -> None:
    """task(fn, executor=client) runs the body in a worker process; results flow on."""
    on_cluster = task(square, executor=client)
    add = task(total, executor=client)
    async with Run("dask") as run:
        result = add(on_cluster(3), on_cluster(4))
        pid = task(where, executor=client)()
    assert await result == 25
    assert await pid != os.getpid()
    assert {r.status for r in run.tasks} == {TaskStatus.OK}


async def test_run_executor_is_the_default_for_plain_tasks_only(client: Any) -> None:
    """Run(executor=client) sends plain-def tasks there; async tasks stay on the loop."""

    @task
    async def local() -> int:
        return os.getpid()

    async with Run("dask", executor=client) as run:
        remote_pid = task(where)()
        local_pid = local()
    assert await local_pid == os.getpid()
    assert await remote_pid != os.getpid()
    assert run.executor is client


async def test_the_clients_concurrent_futures_executor_works_too(client: Any) -> None:
    """client.get_executor() (a concurrent.futures.Executor) used to fail every call with
    "cannot pickle '_contextvars.Context'"; it takes the generic pickling path."""
    async with Run("cf", executor=client.get_executor()) as run:
        result = task(total)(task(square)(2), task(where)())
    assert await result > 4
    assert {r.status for r in run.tasks} == {TaskStatus.OK}


def test_synchronous_client_works_from_a_pipeline_on_another_loop(cluster: Any) -> None:
    """A plain Client runs its own loop in a thread; calls are awaited on that loop."""
    with Client(cluster.scheduler_address) as client:
        async def main() -> int:
            async with Run("sync-client", executor=client):
                return await task(total)(task(square)(5), 1)

        assert asyncio.run(main()) == 26


async def test_dask_futures_pass_through_without_a_round_trip(client: Any) -> None:
    """A scattered Dask future as an argument reaches the worker as its value."""
    data = list(range(10_000))
    [scattered] = await client.scatter([data])
    assert await task(length, executor=client)(scattered) == 10_000
    # Inside containers too (Dask looks through lists and dicts).
    [five] = await client.scatter([5])
    assert await task(sum_of, executor=client)([five, 2], {"x": five}) == 12


async def test_a_result_kept_on_the_cluster_flows_to_dependents_there(client: Any) -> None:
    """An async task that returns a Dask future (not its value) keeps the data on the
    cluster; a dependent running there gets the value from the cluster."""

    @task
    async def load_there(n: int) -> Any:
        return client.submit(list, range(n), pure=False)  # the future, not the list

    kept = load_there(50_000)
    assert isinstance(await kept, distributed.Future)
    assert await task(length, executor=client)(kept) == 50_000


# -- failures --------------------------------------------------------------------------

async def test_worker_exception_keeps_its_type_and_traceback(client: Any) -> None:
    """The function's own exception ends the task failed, with the worker's frames."""
    bad = task(fails, executor=client)
    after = task(square, executor=client)
    async with Run("fails", raise_errors=False) as run:
        failing = bad(7)
        dependent = after(failing)
    with pytest.raises(KeyError, match="no row 7") as info:
        await failing
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "fails" in frames  # the line in the worker that raised
    with pytest.raises(UpstreamError):
        await dependent
    assert [r.status for r in run.tasks] == [TaskStatus.FAILED, TaskStatus.UPSTREAM_FAILED]


async def test_unpicklable_argument_fails_the_task_with_a_clear_error(client: Any) -> None:
    """An argument that does not pickle: failed, naming the task and the cause."""
    async with Run("pickle", raise_errors=False) as run:
        sent = task(length, executor=client)(threading.Lock())
        dependent = task(square, executor=client)(sent)
    with pytest.raises(RemoteCallError) as info:
        await asyncio.wait_for(sent, 30)
    message = str(info.value)
    assert f"length#{sent.id}" in message and "pickle" in message and "lock" in message
    assert isinstance(info.value.__cause__, TypeError)
    assert run.task(dependent.id).status is TaskStatus.UPSTREAM_FAILED


async def test_a_worker_that_dies_fails_the_task_not_the_pipeline(client: Any) -> None:
    """KilledWorker ends the task failed with a clear error; dependents do not run."""
    async with Run("killed", raise_errors=False) as run:
        dead = task(dies, executor=client)()
        dependent = task(square, executor=client)(dead)
        independent = task(square, executor=client)(6)
    with pytest.raises(RemoteCallError) as info:
        await asyncio.wait_for(dead, 60)
    assert f"dies#{dead.id}" in str(info.value) and "KilledWorker" in str(info.value)
    assert type(info.value.__cause__).__name__ == "KilledWorker"
    assert await independent == 36
    assert run.task(dependent.id).status is TaskStatus.UPSTREAM_FAILED
    await client.wait_for_workers(2, timeout=60)  # the nanny restarts it (other tests)


# -- tracing ---------------------------------------------------------------------------

async def test_spans_made_on_the_worker_are_children_of_the_task_span(
    client: Any, tmp_path: Path
) -> None:
    """The traceparent travels: a span made inside the function on a worker has the
    task's span as parent, in the same trace; the task span says where and how long."""
    await client.register_plugin(TracingPlugin("workers", file=tmp_path / "w-{worker}.jsonl"))
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with Run("traced", sinks=[OpenTelemetrySink(provider)]):
        handle = task(traced_work, executor=client)(1)
    seen_on_worker = await handle
    flushed = await client.run(flush_traces)  # every worker exports what it has
    assert list(flushed.values()) == [True, True]

    [task_span] = [s for s in exporter.get_finished_spans() if s.name == "traced_work"]
    assert task_span.attributes is not None
    assert format(task_span.context.trace_id, "032x") == seen_on_worker["trace_id"]
    assert str(task_span.attributes[attr.TASK_WORKER]).startswith("tcp://127.0.0.1:")
    queued = task_span.attributes[attr.TASK_WORKER_QUEUED_S]
    running = task_span.attributes[attr.TASK_WORKER_RUNNING_S]
    assert isinstance(queued, float) and isinstance(running, float)
    assert 0 <= running <= (task_span.end_time - task_span.start_time) / 1e9  # type: ignore[operator]

    # The worker's own exporter wrote the inner span to its file: parent = task span.
    files = sorted(tmp_path.glob("w-*.jsonl"))  # noqa: ASYNC240  # (a test's tmp dir)
    inner = [span for path in files for span in _spans(path) if span["name"] == "inner"]
    assert len(inner) == 1
    assert inner[0]["traceId"] == seen_on_worker["trace_id"]
    assert inner[0]["parentSpanId"] == format(task_span.context.span_id, "016x")
    provider.shutdown()


async def test_engine_does_not_import_dask_until_given_a_client() -> None:
    """The engine imports only the standard library; Dask only for a Dask client."""
    code = (
        "import sys, asyncio, aiodag\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "async def main():\n"
        "    return await aiodag.task(abs, executor=ThreadPoolExecutor(1))(-2)\n"
        "assert asyncio.run(main()) == 2\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in "
        "('distributed', 'dask', 'opentelemetry')], sorted(sys.modules)\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


# -- cancellation (last) -----------------------------------------------------------

async def test_cancelling_the_handle_cancels_the_dask_future(client: Any) -> None:
    """Cancelling a waiting handle cancels its Dask future, not merely drops it: another
    reference to the same key (which dropping would leave pending) sees it cancelled.

    (Last in the module: Dask cannot stop a function already running, so the call
    keeps its worker's thread until it returns.)"""
    handle = task(sleeps, name="nap", executor=client)(1.5)
    await _until(lambda: _scheduler_keys(client, "nap-"), "the call to reach the scheduler")
    [key] = [k for k in await _keys(client) if k.startswith("nap-")]
    other = distributed.Future(key, client)
    assert other.status == "pending"
    handle.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handle
    assert handle.status is TaskStatus.CANCELLED
    await _until(lambda: _is(other, "cancelled"), "the Dask future to be cancelled")


def test_cancelling_with_a_synchronous_client_cancels_on_its_loop(cluster: Any) -> None:
    """With a synchronous client the cancellation is sent from the client's own loop."""
    with Client(cluster.scheduler_address) as client:
        async def main() -> Any:
            handle = task(sleeps, name="doze", executor=client)(1.0)
            deadline = time.monotonic() + 20
            while not [k for k in _sync_keys(client) if k.startswith("doze-")]:
                assert time.monotonic() < deadline, "the call never reached the scheduler"
                await asyncio.sleep(0.02)
            [key] = [k for k in _sync_keys(client) if k.startswith("doze-")]
            other = distributed.Future(key, client)
            handle.cancel()
            with pytest.raises(asyncio.CancelledError):
                await handle
            return other

        other = asyncio.run(main())
        deadline = time.monotonic() + 20
        while other.status != "cancelled":
            assert time.monotonic() < deadline, f"the Dask future is {other.status!r}"
            time.sleep(0.02)


def _sync_keys(client: Any) -> list[str]:
    return [str(k) for k in client.run_on_scheduler(
        lambda dask_scheduler: list(dask_scheduler.tasks))]


async def _is(future: Any, status: str) -> bool:
    return bool(future.status == status)


# -- helpers ---------------------------------------------------------------------------

def _spans(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text().splitlines():
        for resource in json.loads(line)["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                yield from scope["spans"]


async def _keys(client: Any) -> list[str]:
    keys = await client.run_on_scheduler(
        lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks])
    return list(keys)


async def _scheduler_keys(client: Any, prefix: str) -> bool:
    return any(k.startswith(prefix) for k in await _keys(client))


async def _until(check: Any, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)

