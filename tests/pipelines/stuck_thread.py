"""A plain function that keeps a worker thread busy long after the run is stopped."""

import os
import pathlib
import time

from aiodag import task


@task
def crunch():
    pathlib.Path(os.environ["AIODAG_TEST_READY"]).touch()
    time.sleep(60)
    return 1


async def main():
    await crunch()
