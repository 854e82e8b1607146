"""A pipeline whose crunch step blocks the event loop (see test_timing_analysis)."""

import asyncio
import time

from aiodag import task


@task
async def fetch(key):
    await asyncio.sleep(0.05)
    return key

@task
async def crunch(data):
    time.sleep(0.3)  # noqa: ASYNC251  # blocks the loop, deliberately
    return data

@task
async def parse(data):
    await asyncio.sleep(0.01)
    return data

async def main():
    a = fetch("a")
    crunch(a)
    parse(a)
    parse(fetch("b"))
