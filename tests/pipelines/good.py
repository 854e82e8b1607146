"""A small pipeline for the command's tests: two loads, a merge, an exogenous gate."""

import asyncio

from aiodag import task


@task
async def load(key: str) -> str:
    await asyncio.sleep(0.01)
    return key.upper()


@task
async def merge(*parts: str) -> str:
    return "".join(parts)


@task
async def gate() -> None:
    await asyncio.sleep(0.02)


async def main() -> str:
    return await task(merge, gate())(load("a"), load("b"))


async def other() -> str:
    return await load("z")
