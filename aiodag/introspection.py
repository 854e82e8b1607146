"""How a started handle looks to asyncio's introspection: ``repr``, ``get_coro``,
``get_stack``.

A handle's coroutine is the task's body itself, except in a run or with sinks, where
the engine's :func:`aiodag.reporting.observed` runs around it, and for a plain ``def``
task, run by the engine's executor coroutine.  asyncio users look at tasks through
these methods, so they show the body and hide the engine (#8).  Every
:class:`~aiodag.TaskHandle` is an instance of :class:`AsyncioFace`: modules below the
handle recognise handles by it.
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import TYPE_CHECKING, Any

from .executor import ExecutorCall

if TYPE_CHECKING:
    from .decorator import TaskFunction
    from .events import TaskStatus

__all__ = ["AsyncioFace"]

ENGINE_DIR = os.path.dirname(__file__) + os.sep
"""Frames of files in this folder are the engine's, not the user's."""
# asyncio's own methods (a handle is an asyncio.Task; this mixin comes before it).
_get_stack: Any = asyncio.Task.get_stack
_repr: Any = asyncio.Task.__repr__
_ENGINE_CALLBACK_REPR = re.compile(r"settle\(\) at [^,\]]*(, )?")
"""The engine's done-callback (aiodag.ending.settle), which asyncio's repr lists first."""
_ENGINE_CORO_REPR = re.compile(r"coro=<(observed|in_executor|driven)\(\)[^>]*>")


def _describe_coro(coro: Any) -> str:
    """A coroutine as asyncio's task repr shows it: ``fetch() running at file:line``."""
    name = getattr(coro, "__qualname__", None) or type(coro).__name__
    code = getattr(coro, "cr_code", None)
    frame = getattr(coro, "cr_frame", None)
    if frame is not None:
        return f"{name}() running at {frame.f_code.co_filename}:{frame.f_lineno}"
    if code is not None:
        return f"{name}() done, defined at {code.co_filename}:{code.co_firstlineno}"
    return f"{name}()"


class AsyncioFace:
    """The introspection methods of :class:`~aiodag.TaskHandle` (a mixin before
    :class:`asyncio.Task` in its bases: ``super()`` is asyncio's)."""

    __slots__ = ()

    if TYPE_CHECKING:
        _body: Any
        _spec: TaskFunction[Any]

        @property
        def status(self) -> TaskStatus: ...

        def done(self) -> bool: ...


    def __repr__(self) -> str:
        # asyncio's own repr (state, name, coro, wait_for...), showing the body's
        # coroutine rather than the engine's wrapper, plus the aiodag status.
        text = _repr(self)
        body = self._body
        if body is not None and type(body) is not ExecutorCall:
            shown = _describe_coro(body)
        else:
            shown = f"{self._spec.name}() " + ("done" if self.done() else "running")
        text = _ENGINE_CORO_REPR.sub(lambda _: f"coro=<{shown}>", text, count=1)
        text = _ENGINE_CALLBACK_REPR.sub("", text, count=1).replace(" cb=[]", "")
        return f"{text[:-1]} status={self.status}>"

    def get_coro(self) -> Any:
        """The body's coroutine (``None`` before the task starts)."""
        # Not asyncio's get_coro(): on 3.12.0-3.12.4 it crashes the interpreter on a task
        # that completed eagerly (CPython gh-122332); the attribute answers None there.
        coro: Any = self._coro  # type: ignore[attr-defined]
        if coro is None:
            return None  # 3.13+: a task that completed eagerly keeps no coroutine
        body = self._body
        return coro if body is None or type(body) is ExecutorCall else body

    def get_stack(self, *, limit: int | None = None) -> list[Any]:
        """The body's frames, as asyncio shows a plain task's (none before it began).

        The engine's own wrapper frame is left out.
        """
        frame = getattr(self._body, "cr_frame", None)
        if frame is None:
            # The bare body, done, or a plain function: asyncio's answer, less the engine.
            return [f for f in _get_stack(self, limit=limit)
                    if not f.f_code.co_filename.startswith(ENGINE_DIR)]
        frames: list[Any] = []
        while frame is not None and (limit is None or len(frames) < limit):
            if not frame.f_code.co_filename.startswith(ENGINE_DIR):
                frames.append(frame)
            frame = frame.f_back
        frames.reverse()
        return frames

    def _trim_source_traceback(self) -> None:
        # In debug mode asyncio records where a task was created: end that record at
        # the user's call, not inside the engine.
        tb = self._source_traceback  # type: ignore[attr-defined]
        while tb and tb[-1].filename.startswith(ENGINE_DIR):
            del tb[-1]
