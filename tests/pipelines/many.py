"""A pipeline of 200 tasks for the summary tests: a chain of 30 and 170 independent tasks."""

import asyncio

from aiodag import task


@task
async def step(previous: int | None, i: int) -> int:
    await asyncio.sleep(0.001)
    return i


@task
async def side(i: int) -> int:
    return i


async def main() -> None:
    last = None
    for i in range(30):
        last = step(last, i)
    for i in range(170):
        side(i)
