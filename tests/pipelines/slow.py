"""A pipeline for the signal tests: 20 quick tasks finish, then one waits for a minute.

It writes the file named by $AIODAG_TEST_READY once the quick tasks are done, so the
test knows when to send its signal.
"""

import asyncio
import os
from pathlib import Path

from aiodag import task


@task
async def quick(i: int) -> int:
    return i


@task
async def slow(*parts: int) -> int:
    await asyncio.sleep(60)
    return sum(parts)


@task
async def after(total: int) -> int:
    return total


async def main() -> int:
    parts = await asyncio.gather(*(quick(i) for i in range(20)))
    waiting = slow(*parts)
    last = after(waiting)
    await asyncio.sleep(0.05)
    await asyncio.to_thread(Path(os.environ["AIODAG_TEST_READY"]).write_text, "ready")
    return await last
