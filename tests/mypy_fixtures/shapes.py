"""Every kind of parameter, handles nested in containers, plain functions, methods."""

import asyncio
from collections.abc import Sequence
from typing import Any, reveal_type

from aiodag import TaskFunction, TaskHandle, task


@task
async def total(xs: list[float]) -> float:
    return sum(xs)


@task
async def first(xs: Sequence[str]) -> str:
    return xs[0]


@task
async def pair(p: tuple[str, int]) -> str:
    return p[0]


@task
async def table(d: dict[str, int]) -> int:
    return len(d)


@task
async def kinds(a: int, /, b: str = "", *rest: int, c: float, **more: str) -> None:
    pass


@task(name="load")
def load(path: str) -> bytes:  # a plain def, run in a worker thread
    return path.encode()


@task(retries=2, retry_on=ValueError)  # one exception class, as the runtime takes it
async def flaky() -> int:
    return 1


@task
async def takes_handle(h: TaskHandle[int]) -> None:
    pass


@task
async def anything(x: Any, y: object) -> None:
    pass


@task
async def maybe(x: int | None) -> None:
    pass


class Store:
    @task
    async def put(self, key: str) -> None:
        pass


async def number() -> int:
    return 1


async def main() -> None:
    n = task(number)()
    data = load("p")
    reveal_type(data)  # N: Revealed type is "aiodag.handle.TaskHandle[bytes]"
    reveal_type(load)  # N: Revealed type is "aiodag.decorator.TaskFunction[bytes, [path: str]]"
    # Handles inside plain lists, tuples and dict values are resolved, as the engine does.
    total([1, 2.5, n])
    total([])
    total([n, "x"])  # E: Argument 1 to task "total" has incompatible type "list[TaskHandle[int] | str]"; the task receives its result, "list[int | str]", but expects "list[float]"  [arg-type]
    handles: list[TaskHandle[int]] = [n, n]
    total(handles)  # E: Argument 1 to task "total" has incompatible type "list[TaskHandle[int]]"; the task receives its result, "list[int]", but expects "list[float]"  [arg-type]
    first([load("a")])  # E: Argument 1 to task "first" has incompatible type "list[TaskHandle[bytes]]"; the task receives its result, "list[bytes]", but expects "Sequence[str]"  [arg-type]
    first(["a", first(["b"])])
    pair(("a", n))
    pair((n, "a"))  # E: Argument 1 to task "pair" has incompatible type "tuple[TaskHandle[int], str]"; the task receives its result, "tuple[int, str]", but expects "tuple[str, int]"  [arg-type]
    table({"a": n, "b": 2})
    table({n: 1})  # E: Argument 1 to task "table" has incompatible type "dict[TaskHandle[int], int]"; expected "dict[str, int]" or a task handle of "dict[str, int]"  [arg-type]
    # Positional-only, defaults, *args, keyword-only, **kwargs.
    kinds(n, "b", 2, n, c=n, extra="x")
    kinds(1, c=1.0)
    kinds(1, "b", "3", c=1.0, extra=n)  # E: Argument 3 to task "kinds" has incompatible type "str"; expected "int" or a task handle of "int"  [arg-type] # E: Argument "extra" to task "kinds" has incompatible type "TaskHandle[int]"; the task receives its result, "int", but expects "str"  [arg-type]
    kinds(1, "b")  # E: Missing named argument "c" in call to task "kinds"  [call-arg]
    kinds(a=1, c=1.0)  # E: Missing positional argument 1 in call to task "kinds"  [call-arg]
    # The engine resolves a handle even where a handle is declared: the body gets its result.
    takes_handle(n)  # E: Argument 1 to task "takes_handle" has incompatible type "TaskHandle[int]"; the task receives its result, "int", but expects "TaskHandle[int]"  [arg-type]
    anything(n, data)
    maybe(None)
    maybe(n)
    maybe(data)  # E: Argument 1 to task "maybe" has incompatible type "TaskHandle[bytes]"; the task receives its result, "bytes", but expects "int | None"  [arg-type]
    # A coroutine is not resolved (only futures are): it would reach the body unawaited.
    total(number())  # E: Argument 1 to task "total" has incompatible type "Coroutine[Any, Any, int]"; expected "list[float]" or a task handle of "list[float]"  [arg-type]
    # Exogenous dependencies keep the parameters.
    after = task(total, n)
    reveal_type(after)  # N: Revealed type is "aiodag.decorator.TaskFunction[float, [xs: list[float]]]"
    after(1)  # E: Argument 1 to task "after" has incompatible type "int"; expected "list[float]" or a task handle of "list[float]"  [arg-type]
    # Methods: bound to an instance, without `self`; through the class, with it.
    store = Store()
    reveal_type(store.put)  # N: Revealed type is "aiodag.decorator.TaskFunction[None, [key: str]]"
    store.put(1)  # E: Argument 1 to task "put" has incompatible type "int"; expected "str" or a task handle of "str"  [arg-type]
    store.put(data)  # E: Argument 1 to task "put" has incompatible type "TaskHandle[bytes]"; the task receives its result, "bytes", but expects "str"  [arg-type]
    store.put(first(["k"]))
    Store.put(store, n)  # E: Argument 2 to task "put" has incompatible type "TaskHandle[int]"; the task receives its result, "int", but expects "str"  [arg-type]
    # Annotated `TaskFunction[T]`: the parameters are `...`, any call goes.
    anyhow: TaskFunction[float] = total
    anyhow("not a list", 2, key=3)
    # `*xs` / `**kw` in the call: counted as far as possible, their items not checked.
    values: list[Any] = []
    total(*values)
    await asyncio.sleep(0)


asyncio.run(main())
