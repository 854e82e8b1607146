"""The four mistakes of issue 13 (and a few more), each reported on its line."""

import asyncio

from aiodag import task


@task
async def fetch(some_id: str) -> str:
    return some_id + "x"


@task
async def concatenate(pair_item1: str, pair_item2: str) -> str:
    return pair_item1 + pair_item2


@task
async def count(text: str) -> int:
    return len(text)


async def main() -> None:
    fa1 = fetch("a1")
    concatenate(fa1)  # E: Missing positional argument "pair_item2" in call to task "concatenate"  [call-arg]
    concatenate(1, 2)  # E: Argument 1 to task "concatenate" has incompatible type "int"; expected "str" or a task handle of "str"  [arg-type] # E: Argument 2 to task "concatenate" has incompatible type "int"; expected "str" or a task handle of "str"  [arg-type]
    fetch(k=1)  # E: Unexpected keyword argument "k" for task "fetch"  [call-arg] # E: Missing positional argument "some_id" in call to task "fetch"  [call-arg]
    fetch(count("abc"))  # E: Argument 1 to task "fetch" has incompatible type "TaskHandle[int]"; the task receives its result, "int", but expects "str"  [arg-type]
    fetch(some_id=count(fa1))  # E: Argument "some_id" to task "fetch" has incompatible type "TaskHandle[int]"; the task receives its result, "int", but expects "str"  [arg-type]
    fetch(sme_id="a")  # E: Unexpected keyword argument "sme_id" for task "fetch"; did you mean "some_id"?  [call-arg] # E: Missing positional argument "some_id" in call to task "fetch"  [call-arg]
    concatenate(fa1, fa1, fa1)  # E: Too many positional arguments for task "concatenate"  [call-arg]
    fetch("a", some_id="b")  # E: Task "fetch" gets multiple values for argument "some_id"  [call-arg]
    task(count)(fa1)
    task(count)(count(fa1))  # E: Argument 1 to task "count" has incompatible type "TaskHandle[int]"; the task receives its result, "int", but expects "str"  [arg-type]
    concatenate(fa1, "b" if fa1.done() else fa1)
    concatenate(fa1, 1 if fa1.done() else fa1)  # E: Argument 2 to task "concatenate" has incompatible type "int | TaskHandle[str]"; the task receives its result, "int | str", but expects "str"  [arg-type]


asyncio.run(main())
