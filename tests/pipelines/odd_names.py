"""Names and errors that Graphviz and printing used to choke on (see test_cli_render)."""

from aiodag import task

Blank = type(" ", (Exception,), {})


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


async def _nothing() -> None:
    return None


async def _blank() -> None:
    raise Blank("a class named ' '")


async def _unprintable() -> None:
    raise Unprintable()


async def main() -> None:
    task(_nothing, name=" ")()
    task(_nothing, name=" ")()
    task(_blank, name="blank")()
    task(_unprintable, name="unprintable")()
