"""The seed README's ETL pipeline, as a ready-made demo (used by ``aiodag demo``).

Six fetches, pairwise concatenations, number stripping and one upload: 14 tasks whose
critical path is ``fetch('c1')`` → ``concatenate`` → ``strip_numbers`` → ``upload``.
Sleep times are the seed's, multiplied by ``speed`` (1.0 = the seed's ~9 s run).
"""

from __future__ import annotations

import asyncio

from .decorator import task
from .handle import TaskHandle

__all__ = ["FETCH_SECONDS", "etl_pipeline"]

FETCH_SECONDS = {"a1": 1.0, "a2": 2.0, "b1": 4.0, "b2": 0.5, "c1": 6.0, "c2": 3.5}
"""How long each fetch sleeps at speed 1, as in the seed's README."""


def etl_pipeline(speed: float = 0.1) -> TaskHandle[str]:
    """Call the seed's ETL tasks (inside a running loop) and return the upload's handle.

    With the default ``speed`` of 0.1 the run takes about 0.9 s.
    """
    if not speed > 0:
        raise ValueError(f"speed must be a positive number, got {speed!r}")

    @task
    async def fetch(some_id: str) -> str:
        await asyncio.sleep(FETCH_SECONDS[some_id] * speed)
        return some_id + "x"

    @task
    async def concatenate(pair_item1: str, pair_item2: str) -> str:
        await asyncio.sleep(1 * speed)
        return pair_item1 + pair_item2

    async def strip_numbers(alpha_num_string: str) -> str:
        await asyncio.sleep(1 * speed)
        return "".join(x for x in alpha_num_string if not x.isdigit())

    @task
    async def upload(a_data: str, b_data: str, c_data: str) -> str:
        await asyncio.sleep(1 * speed)
        return "\n".join([a_data, b_data, c_data])

    fa1, fa2 = fetch("a1"), fetch("a2")
    fb1, fb2 = fetch("b1"), fetch("b2")
    fc1, fc2 = fetch("c1"), fetch("c2")
    ca = concatenate(fa1, fa2)
    cb = concatenate(fb1, fb2)
    cc = concatenate(fc1, fc2)
    cab = concatenate(ca, cb)
    # Wrapped at invocation time, as the seed shows for undecorated coroutines.
    sa = task(strip_numbers)(ca)
    sab = task(strip_numbers)(cab)
    sc = task(strip_numbers)(cc)
    return upload(sa, sab, sc)
