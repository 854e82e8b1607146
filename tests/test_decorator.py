"""``task``: wrapping functions, calling them, and what a call returns."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import inspect
import sys
import threading
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import aiodag
from aiodag import TaskHandle, task


@task
async def double(x: int) -> int:
    return 2 * x


@task
async def add(a: int, b: int) -> int:
    return a + b


async def test_calling_a_task_returns_an_asyncio_task_scheduled_at_once() -> None:
    """The handle is an asyncio.Task that runs without being awaited."""
    ran = asyncio.Event()

    @task
    async def mark() -> str:
        ran.set()
        return "done"

    handle = mark()
    assert isinstance(handle, asyncio.Task)
    assert isinstance(handle, TaskHandle)
    assert not handle.done()
    await asyncio.wait_for(ran.wait(), 1)
    await asyncio.sleep(0)
    assert handle.done()
    assert handle.result() == "done"


async def test_a_handle_can_be_awaited_many_times_and_used_with_asyncio_tools() -> None:
    """await (twice), gather, wait, shield and wait_for all work on handles."""
    h = double(21)
    assert await h == 42
    assert await h == 42
    assert await asyncio.gather(h, double(1)) == [42, 2]
    done, pending = await asyncio.wait([h, double(2)])
    assert {t.result() for t in done} == {42, 4} and not pending
    assert await asyncio.shield(double(3)) == 6
    assert await asyncio.wait_for(double(4), 1) == 8


async def test_handles_and_plain_values_are_resolved_before_the_call() -> None:
    """Handles become their results; plain values pass through; futures are waited for."""
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    h = add(double(5), fut)
    asyncio.get_running_loop().call_later(0.01, fut.set_result, 7)
    assert await h == 17
    assert await add(1, 2) == 3


async def test_every_parameter_kind_works() -> None:
    """Positional-only, *args, keyword-only, **kwargs and defaults, with handles in each."""

    @task
    async def everything(
        a: int, /, b: int, *rest: int, c: int, d: int = 100, **extra: int
    ) -> tuple[Any, ...]:
        return a, b, rest, c, d, extra

    result = await everything(double(1), double(2), double(3), 4, c=double(5), e=double(6))
    assert result == (2, 4, (6, 4), 10, 100, {"e": 12})
    assert await everything(1, 2, c=3) == (1, 2, (), 3, 100, {})


async def test_handles_nested_in_lists_tuples_and_dicts_are_resolved() -> None:
    """Containers of any depth are searched for handles, and rebuilt with the results."""

    @task
    async def identity(value: Any) -> Any:
        return value

    nested = {"a": [double(1), (double(2), {"deep": [double(3)]})], "plain": [1, (2,)]}
    assert await identity(nested) == {"a": [2, (4, {"deep": [6]})], "plain": [1, (2,)]}
    async with aiodag.Run("nested") as run:
        identity([double(1), {"k": (double(2),)}])
    dependent = run.tasks[-1]
    assert [d.kind for d in dependent.deps] == ["data", "data"]
    assert {d.upstream_id for d in dependent.deps} == {r.id for r in run.tasks[:2]}


async def test_the_same_handle_twice_is_one_dependency() -> None:
    """Passing one upstream in two places records one edge and passes the value twice."""
    async with aiodag.Run("dup") as run:
        up = double(3)
        both = add(up, up)
    assert await both == 12
    assert [d.upstream_id for d in run.task(both.id).deps] == [up.id]


async def test_a_plain_function_runs_in_the_default_executor() -> None:
    """A def task runs off the loop's thread, so a blocking call never blocks the loop."""
    loop_thread = threading.get_ident()

    @task
    def blocking(x: int) -> tuple[int, int]:
        return x + 1, threading.get_ident()

    value, thread = await blocking(double(1))
    assert value == 3
    assert thread != loop_thread


async def test_a_plain_function_can_use_a_given_executor_and_sees_the_context() -> None:
    """task(fn, executor=...) uses that executor; context variables reach the thread."""
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("from the caller")

    def where() -> tuple[str, str]:
        return threading.current_thread().name, var.get()

    with ThreadPoolExecutor(1, thread_name_prefix="aiodag-test") as pool:
        name, seen = await task(where, executor=pool)()
    assert name.startswith("aiodag-test")
    assert seen == "from the caller"


async def test_executor_is_refused_for_async_functions() -> None:
    """executor= makes no sense for a coroutine function: a clear error says so."""
    with ThreadPoolExecutor(1) as pool, pytest.raises(TypeError, match="plain"):
        task(double, executor=pool)


async def test_methods_can_be_tasks() -> None:
    """@task on a method binds self like a function."""

    class Scaler:
        def __init__(self, factor: int) -> None:
            self.factor = factor

        @task
        async def scale(self, x: int) -> int:
            return self.factor * x

    s = Scaler(3)
    assert await s.scale(double(2)) == 12
    assert isinstance(Scaler.scale, aiodag.TaskFunction)


async def test_name_defaults_to_the_function_name_and_can_be_given() -> None:
    """task(fn, name=...) names the task; the default is __name__."""
    async with aiodag.Run("names") as run:
        double(1)
        task(double, name="twice")(2)
        task(name="thrice")(double.fn)(3)
    assert [r.name for r in run.tasks] == ["double", "twice", "thrice"]
    assert [r.label for r in run.tasks] == ["double(1)", "twice(2)", "thrice(3)"]


async def test_wrapping_a_task_again_adds_dependencies_not_layers() -> None:
    """task(task(f, d1), d2) waits for d1 and d2 and makes one asyncio task per call."""
    gate1: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    gate2: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    wrapped = task(task(double, gate1), gate2)
    assert wrapped.exogenous == (gate1, gate2)
    assert wrapped.fn is double.fn
    before = len(asyncio.all_tasks())
    h = wrapped(5)
    assert len(asyncio.all_tasks()) == before + 1
    gate1.set_result(None)
    await asyncio.sleep(0.01)
    assert not h.done()
    gate2.set_result(None)
    assert await h == 10


async def test_exogenous_dependencies_must_be_futures() -> None:
    """A non-future exogenous dependency is refused with the bad value in the message."""
    with pytest.raises(TypeError, match=r"got 42"):
        task(double, 42)  # type: ignore[call-overload]


async def test_generators_and_non_callables_are_refused() -> None:
    """task() explains what it can run."""

    async def agen() -> Any:
        yield 1

    with pytest.raises(TypeError, match="generator"):
        task(agen)
    with pytest.raises(TypeError, match="needs a function"):
        task("not a function")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        task(double, name="")


async def test_a_future_of_another_loop_is_refused() -> None:
    """A dependency from another event loop gives a clear error, not a hang."""
    other = asyncio.new_event_loop()
    try:
        foreign = other.create_future()
        with pytest.raises(ValueError, match="another event loop"):
            double(foreign)
    finally:
        other.close()


def test_calling_without_a_running_loop_explains_what_to_do() -> None:
    """No loop: a RuntimeError naming the task, and no 'never awaited' warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError, match=r"task 'double' .* no running event loop"):
            double(1)
        gc.collect()
    assert [str(w.message) for w in caught] == []


async def test_fire_and_forget_tasks_are_not_garbage_collected() -> None:
    """Handles never stored still run to the end, even across garbage collections."""
    results: list[int] = []

    @task
    async def record(x: int) -> None:
        await asyncio.sleep(0.01)
        results.append(x)

    @task
    async def waits_on_its_own_future() -> None:
        # Only this task refers to `gate`, and only `gate` refers back to the task:
        # a cycle asyncio alone (weak references) lets the collector destroy.
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await gate

    for i in range(5):
        record(i)
    orphan = weakref.ref(waits_on_its_own_future())
    for _ in range(3):
        gc.collect()
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.02)
    assert sorted(results) == [0, 1, 2, 3, 4]
    handle = orphan()
    assert handle is not None, "the engine let a pending task be garbage-collected"
    handle.cancel()
    await asyncio.sleep(0)
    assert handle.cancelled()
    await asyncio.sleep(0)  # its end is settled (and it is let go) one step later
    del handle
    gc.collect()
    assert orphan() is None, "a finished task is still held"


async def test_repr_shows_what_asyncio_shows_plus_the_status() -> None:
    """asyncio's repr (state, name as set, the body's coroutine, result) + the status."""
    gate = asyncio.Event()

    @task
    async def waits() -> int:
        await gate.wait()
        return 7

    upstream = waits()
    h = double(upstream)  # not started: waiting for its upstream
    assert repr(h) == f"<TaskHandle pending name='double#{h.id}' coro=<double() waiting " \
        "for 1 upstream> status=pending>"
    w = waits()
    await asyncio.sleep(0)
    text = repr(w)
    assert text.startswith(f"<TaskHandle pending name='waits#{w.id}' coro=<")
    assert "test_repr_shows_what_asyncio_shows_plus_the_status.<locals>.waits() running at " \
        f"{__file__}:" in text
    assert " wait_for=<Future pending" in text and text.endswith(" status=running>")
    w.set_name("renamed")
    assert "name='renamed'" in repr(w)
    w.cancel()
    assert repr(w).startswith("<TaskHandle cancelling name='renamed'")
    gate.set()
    await h
    defined = f"{__file__}:{double.fn.__code__.co_firstlineno}"
    # (Started eagerly by its upstream's end on 3.12+, it ran to its end in its first
    # step, and asyncio keeps no coroutine of a task that did: its repr shows none.)
    shown = "" if sys.version_info >= (3, 12) else f"coro=<double() done, defined at {defined}> "
    assert repr(h) == f"<TaskHandle finished name='double#{h.id}' {shown}result=14 status=ok>"
    assert repr(double) == "<aiodag task 'double'>"


async def test_resolution_works_for_every_argument_shape() -> None:
    """All-handles, mixed, nested and keyword shapes resolve to the same values."""
    from aiodag.deps import plan_args, resolve

    loop = asyncio.get_running_loop()
    f1, f2 = loop.create_future(), loop.create_future()
    f1.set_result(1)
    f2.set_result(2)
    shapes: list[tuple[tuple[Any, ...], dict[str, Any], tuple[Any, ...], dict[str, Any]]] = [
        ((f1, f2), {}, (1, 2), {}),
        ((f1, 5, f2), {}, (1, 5, 2), {}),
        (([f1], {"k": (f2,)}), {}, ([1], {"k": (2,)}), {}),
        ((f1,), {"b": f2, "c": [f1]}, (1,), {"b": 2, "c": [1]}),
    ]
    for args, kwargs, want_args, want_kwargs in shapes:
        plan = plan_args(args, kwargs)
        assert plan is not None
        got_args, got_kwargs = resolve(plan, args, kwargs)
        assert (tuple(got_args), got_kwargs) == (want_args, want_kwargs)
    assert plan_args((1, [2], {"x": 3}), {"y": 4}) is None


def test_the_typed_options_are_the_options_task_takes() -> None:
    """``task()``'s overloads type its options through ``TaskOptions``: an option added
    to ``task()`` but not there would be refused by mypy in users' code, one typed
    differently would be checked against the wrong type."""
    from aiodag.decorator import TaskOptions

    params = inspect.signature(aiodag.task).parameters
    keywords = {name: p.annotation for name, p in params.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}
    typed = {name: ref.__forward_arg__ for name, ref in TaskOptions.__annotations__.items()}
    assert typed == keywords
