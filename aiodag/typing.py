"""Type aliases used across aiodag's public API."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from .events import Event

__all__ = ["Sink"]

Sink: TypeAlias = Callable[[Event], object]
"""A sink: any callable taking one event.  Its return value is ignored."""
