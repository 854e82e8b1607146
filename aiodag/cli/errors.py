"""The command's one error type."""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """Bad input: reported as one ``aiodag: error: …`` line, exit status 2."""
