"""``aiodag.run``: :func:`asyncio.run` that also waits for the tasks still running.

``asyncio.run(main())`` ends the moment ``main`` returns and cancels every task still
running, so a fire-and-forget pipeline (tasks called and not awaited) loses its
unfinished tasks.  ``aiodag.run(main())`` waits for them first: every aiodag task
called on the loop, including those they call in turn, runs to its end.  Tasks that
are not aiodag tasks are treated as asyncio treats them (cancelled at the end).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .keepalive import alive_handles

__all__ = ["run", "wait_for_tasks"]

T = TypeVar("T")


def run(
    main: Coroutine[Any, Any, T],
    *,
    debug: bool | None = None,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    """Run ``main`` like :func:`asyncio.run`, then wait for every aiodag task left.

    If ``main`` raises, nothing more is awaited: the exception propagates and the tasks
    still running are cancelled, as with :func:`asyncio.run`.  Ctrl-C cancels the
    waiting and the tasks alike.

    >>> aiodag.run(main())
    """
    if not asyncio.iscoroutine(main):
        raise TypeError(
            f"aiodag.run() needs a coroutine, got {main!r}; call the async function: "
            "aiodag.run(main()) rather than aiodag.run(main)"
        )
    with asyncio.Runner(debug=debug, loop_factory=loop_factory) as runner:
        return runner.run(_then_wait(main))


async def _then_wait(main: Coroutine[Any, Any, T]) -> T:
    result = await main
    await wait_for_tasks()
    return result


async def wait_for_tasks() -> None:
    """Wait until no aiodag task is left unfinished on the running loop (but the one
    calling, if it is a task: it cannot wait for itself)."""
    loop = asyncio.get_running_loop()
    while True:
        # (A loop that takes no attributes shares one set: keep to this loop's handles.)
        current = asyncio.current_task()
        pending = [h for h in alive_handles(loop) if h.get_loop() is loop and h is not current]
        if not pending:
            return
        # New tasks may be called while these run: look again once they are done.
        await asyncio.wait(pending)
