"""Loading a user's pipeline for ``aiodag run FILE.py[:FUNC]``."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

__all__ = ["LoadedPipeline", "load_pipeline"]


@dataclass(frozen=True)
class LoadedPipeline:
    """The function to run, and the run's default name (the file's stem)."""

    function: Callable[[], Awaitable[object]]
    default_name: str


def _split(target: str) -> tuple[Path, str]:
    path, sep, func = target.rpartition(":")
    # "C:\\x.py" and "x.py" have no function part; "x.py:main" does.
    if sep and func.isidentifier() and path:
        return Path(path), func
    return Path(target), "main"


def load_pipeline(target: str) -> LoadedPipeline:
    """Import ``FILE.py`` and return its coroutine function ``FUNC`` (default ``main``)."""
    path, func_name = _split(target)
    if not path.is_file():
        raise UsageError(f"no such file: {str(path)!r} (give FILE.py or FILE.py:FUNC)")
    if path.suffix != ".py":
        raise UsageError(f"{str(path)!r} is not a Python file (give FILE.py or FILE.py:FUNC)")
    module_name = f"aiodag_pipeline_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise UsageError(f"cannot import {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    # Let the pipeline import its sibling modules, as `python FILE.py` would.
    sys.path.insert(0, str(path.resolve().parent))
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise UsageError(
            f"importing {str(path)!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    function = getattr(module, func_name, None)
    if function is None:
        found = sorted(
            name for name, value in vars(module).items()
            if inspect.iscoroutinefunction(value) and not name.startswith("_")
        )
        hint = f" (async functions there: {', '.join(found)})" if found else ""
        raise UsageError(f"{str(path)!r} has no function {func_name!r}{hint}")
    if not inspect.iscoroutinefunction(function):
        raise UsageError(
            f"{func_name!r} in {str(path)!r} is not an async function; aiodag run needs "
            f"`async def {func_name}()` that calls your tasks"
        )
    if any(
        p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in inspect.signature(function).parameters.values()
    ):
        raise UsageError(f"{func_name!r} in {str(path)!r} must take no arguments")
    return LoadedPipeline(function, path.stem)
