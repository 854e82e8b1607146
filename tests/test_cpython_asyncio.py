"""CPython's own asyncio tests, run with every task an aiodag handle.

The test classes come from the running interpreter's ``test.test_asyncio`` package
(tasks, with ``gather``, ``current_task``, ``run_coroutine_threadsafe`` and ``sleep``;
task groups; timeouts; ``wait_for``; on 3.12+ eager task factories) and run unchanged;
only the tasks they make are handles, through the shim in ``handle_shim.py``:

* test cases with a ``Task`` attribute get :class:`~handle_shim.HandleTask`;
* every loop they make — ``asyncio.new_event_loop()``, ``asyncio.run``, unittest's
  ``IsolatedAsyncioTestCase`` (whose test bodies so run in handles too), the test
  suite's ``TestLoop`` — gets a task factory making handles, for ``loop.create_task`` /
  ``asyncio.create_task`` and everything built on them (task groups, ``gather``).

Where a handle differs from an ``asyncio.Task``, the test is a strict xfail naming the
difference (``KNOWN_DIFFERENCES``): when the engine closes one, its tests XPASS, which
fails the suite until the entry is removed.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
import unittest
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from handle_shim import HandleTask, close_unstarted, handle_task_factory

from aiodag import TaskHandle

try:
    from test.test_asyncio import test_taskgroups as cpython_taskgroups
    from test.test_asyncio import test_tasks as cpython_tasks
    from test.test_asyncio import test_timeouts as cpython_timeouts
    from test.test_asyncio import test_waitfor as cpython_waitfor
    from test.test_asyncio import utils as cpython_test_utils
except ImportError as exc:  # e.g. Debian's python3 without libpython3.X-testsuite
    pytest.skip(
        f"CPython's asyncio tests are NOT run against aiodag handles on Python "
        f"{sys.version.split()[0]}: this interpreter has no `test.test_asyncio` package "
        f"({exc}); install the interpreter's test suite (Debian: libpython3.X-testsuite)",
        allow_module_level=True,
    )


class _HandlePolicy(asyncio.DefaultEventLoopPolicy):
    """Every new event loop makes its tasks as aiodag handles."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        loop.set_task_factory(handle_task_factory)
        return loop


@pytest.fixture(autouse=True)
def _loops_make_handles() -> Iterator[None]:
    asyncio.set_event_loop_policy(_HandlePolicy())
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(None)


class _TestLoopsMakeHandles:
    """For the test suite's ``TestLoop`` (made directly, not by the policy)."""

    def new_test_loop(self, gen: Any = None) -> asyncio.AbstractEventLoop:
        loop: asyncio.AbstractEventLoop = super().new_test_loop(gen)  # type: ignore[misc]
        loop.set_task_factory(handle_task_factory)
        return loop


# -- the test classes -------------------------------------------------------------------


class TestTasks(_TestLoopsMakeHandles, cpython_tasks.CTask_CFuture_Tests):
    """asyncio's default pair, a C Task and C futures; a handle is a C Task subclass."""

    Task = HandleTask

    def tearDown(self) -> None:
        close_unstarted()  # (see there) before CPython's tearDown collects garbage
        super().tearDown()


class TestCurrentTask(_TestLoopsMakeHandles, cpython_tasks.CCurrentLoopTests):
    def new_task(self, coro: Any) -> Any:
        return HandleTask(coro, loop=self.loop)


class TestGather(_TestLoopsMakeHandles, cpython_tasks.CoroutineGatherTests):
    pass


class TestRunCoroutineThreadsafe(_TestLoopsMakeHandles,
                                 cpython_tasks.RunCoroutineThreadsafeTests):
    pass


class TestSleep(_TestLoopsMakeHandles, cpython_tasks.SleepTests):
    pass


class TestTaskGroups(cpython_taskgroups.TestTaskGroup):
    pass


class TestTimeouts(cpython_timeouts.TimeoutTests):
    pass


class TestWaitFor(cpython_waitfor.AsyncioWaitForTest):
    pass


if hasattr(cpython_waitfor, "WaitForShieldTests"):  # 3.12+ (added in a 3.12 bugfix)

    class TestWaitForShield(cpython_waitfor.WaitForShieldTests):
        pass


if sys.version_info >= (3, 12):
    from test.test_asyncio import test_eager_task_factory as cpython_eager

    class TestEagerTaskFactory(cpython_eager.CEagerTaskFactoryLoopTests):
        """``asyncio.create_eager_task_factory(Task)`` with handles for tasks."""

        Task = HandleTask

    class TestEagerTaskCounts(cpython_eager.EagerCTaskTests):
        Task = HandleTask

    class TestNonEagerTaskCounts(cpython_eager.NonEagerCTaskTests):
        Task = HandleTask


class TestTheTasksAreHandles(unittest.IsolatedAsyncioTestCase):
    """The shim is in place where CPython's test classes run (else they test asyncio)."""

    async def test_test_bodies_and_their_tasks_are_handles(self) -> None:
        assert isinstance(asyncio.current_task(), TaskHandle)
        async with asyncio.TaskGroup() as tg:
            grouped = tg.create_task(asyncio.sleep(0))
        assert isinstance(grouped, TaskHandle)
        assert isinstance(asyncio.ensure_future(asyncio.sleep(0)), TaskHandle)


class TestTheTestLoopsMakeHandles(_TestLoopsMakeHandles, cpython_test_utils.TestCase):
    def test_test_loop_tasks_are_handles(self) -> None:
        loop = self.new_test_loop()
        assert isinstance(loop.run_until_complete(_current_task()), TaskHandle)


async def _current_task() -> asyncio.Task[Any] | None:
    return asyncio.current_task()


NOT_RUN = {
    "PyTask_* (PyTask_PyFuture_Tests, PyTask_CFuture_Tests, ...)":
        "a handle is a subclass of asyncio.Task, the C task: with the shim these classes "
        "would rerun the C task's tests unchanged",
    "CTask_PyFuture_Tests, CTaskSubclass_PyFuture_Tests":
        "the same tests with pure-Python futures; they would double this module's time "
        "for the future type, which is not what a handle changes",
    "CTask_CFuture_SubclassTests":
        "subclasses the test's Task class; aiodag's users do not subclass TaskHandle",
    "BaseTaskIntrospectionTests, GenericTaskTests, FutureGatherTests":
        "make no task (register_task, futures only)",
}


@pytest.mark.parametrize("variant", NOT_RUN)
def test_variants_not_run(variant: str) -> None:
    """Says, in the test output, which CPython test classes are not run here, and why."""
    pytest.skip(f"{variant}: {NOT_RUN[variant]}")


# -- where handles differ ---------------------------------------------------------------

KNOWN_DIFFERENCES: dict[str, tuple[str, ...]] = {
    "deliberate (README, Calling): a handle's class is TaskHandle, so its repr starts "
    "`<TaskHandle ...`, ends with the aiodag status, and before its inputs are ready its "
    "body does not exist yet (`coro=<notmuch() waiting for 1 upstream>`: the body is called with "
    "its upstreams' results)": (
        "TestTasks.test_task_repr",
        "TestTasks.test_task_repr_wait_for",
    ),
    "deliberate (README, Calling): a handle's default asyncio name is aiodag's "
    "`name#id`, not asyncio's `Task-N`": (
        "TestTasks.test_task_repr_autogenerated",
    ),
    "deliberate (README, Lifetime): the engine keeps every unfinished handle alive while "
    "its loop is, so a pending task nobody references is not destroyed and asyncio's "
    "'Task was destroyed but it is pending!' comes only when the loop itself goes": (
        "TestTasks.test_log_destroyed_pending_task",
    ),
    "deliberate: the engine awaits what a task's body returns, so it must be awaitable; "
    "asyncio's Task drives send() itself, so it also runs a coroutine-like object whose "
    "__await__ returns a non-iterator, and on 3.11 a plain generator": (
        "TestTasks.test_create_task_with_asynclike_function",
        # gathers a plain generator, which only 3.11's asyncio still takes for a coroutine
        *(("TestTasks.test_cancel_gather_1",) if sys.version_info < (3, 12) else ()),
    ),
}


def _xfail(test: Callable[..., Any], reason: str) -> Callable[..., Any]:
    # A new function on our subclass: CPython's own test function stays unmarked.  An
    # async test stays async, or IsolatedAsyncioTestCase would not await it.
    if inspect.iscoroutinefunction(test):
        @functools.wraps(test)
        async def known_async_difference(self: Any, *args: Any, **kwargs: Any) -> Any:
            return await test(self, *args, **kwargs)

        return pytest.mark.xfail(reason=reason, strict=True)(known_async_difference)

    @functools.wraps(test)
    def known_difference(self: Any, *args: Any, **kwargs: Any) -> Any:
        return test(self, *args, **kwargs)

    return pytest.mark.xfail(reason=reason, strict=True)(known_difference)


def _mark_known_differences() -> None:
    module = globals()
    for reason, tests in KNOWN_DIFFERENCES.items():
        for test_id in tests:
            class_name, method = test_id.split(".")
            if class_name not in module:
                # Only a class of a newer CPython may be missing (not a misspelt one).
                assert class_name in _SINCE_3_12 and sys.version_info < (3, 12), test_id
                continue
            test = getattr(module[class_name], method, None)
            if test is not None:  # else a test of another CPython version
                setattr(module[class_name], method, _xfail(test, reason))


_SINCE_3_12 = {"TestEagerTaskFactory", "TestEagerTaskCounts", "TestNonEagerTaskCounts",
               "TestWaitForShield"}


_mark_known_differences()
