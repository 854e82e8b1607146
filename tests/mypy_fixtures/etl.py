"""The seed's ETL example, annotated: handles stand in for values.  No error expected."""

import asyncio
from typing import reveal_type

from aiodag import task


@task
async def fetch(some_id: str) -> str:
    await asyncio.sleep({"a1": 1, "a2": 2, "b1": 4, "b2": 0.5, "c1": 6, "c2": 3.5}[some_id])
    return some_id + "x"


@task
async def concatenate(pair_item1: str, pair_item2: str) -> str:
    await asyncio.sleep(1)
    return pair_item1 + pair_item2


async def strip_numbers(alpha_num_string: str) -> str:  # not decorated...
    await asyncio.sleep(1)
    return "".join(x for x in alpha_num_string if not x.isdigit())


@task
async def upload(a_data: str, b_data: str, c_data: str) -> None:
    await asyncio.sleep(1)
    print(a_data, b_data, c_data)


async def main() -> None:
    fa1, fa2, fb1, fb2, fc1, fc2 = (fetch(k) for k in ["a1", "a2", "b1", "b2", "c1", "c2"])
    ca = concatenate(fa1, fa2)
    cb = concatenate(fb1, fb2)
    cc = concatenate(fc1, fc2)
    cab = concatenate(ca, cb)
    sa = task(strip_numbers)(ca)  # ...so wrap it at call time
    sab = task(strip_numbers)(cab)
    sc = task(strip_numbers)(cc)
    reveal_type(sc)  # N: Revealed type is "aiodag.handle.TaskHandle[str]"
    reveal_type(await sc)  # N: Revealed type is "str"
    await upload(sa, sab, sc)


asyncio.run(main())
