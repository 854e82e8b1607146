import asyncio

from aiodag import task


@task
async def load(key):
    await asyncio.sleep(0.01)
    if key == "bad":
        raise ValueError(f"cannot load {key!r}")
    return key

@task
async def combine(*parts):
    return "+".join(parts)

async def main():
    combine(load("a"), load("bad"))
    await combine(load("b"), load("c"))

def not_async():
    pass


async def awaits_failure():
    task(other)()
    return await combine(load("a"), load("bad"))


async def other():
    await asyncio.sleep(0.02)


async def raises_itself():
    load("slow")
    raise KeyError("the pipeline's own bug")


async def passes_on():
    loads = [load("bad") for _ in range(4)]

    async def waits_for_the_first():
        return await loads[0]  # not a declared dependency: its error goes through

    task(waits_for_the_first)()


async def exits():
    await load("a")
    load("slow")
    import sys
    sys.exit(3)
