"""Shared fixtures: every test starts and ends with no global sink."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from aiodag import sinks
from aiodag.testing import RecordingSink


@pytest.fixture(autouse=True)
def _no_global_sinks() -> Iterator[None]:
    """Global sinks are process state: make each test start and end without any."""
    assert sinks.global_slots() == (), "a previous test leaked a global sink"
    yield
    for slot in sinks.global_slots():
        sinks.remove_sink(slot.sink)


@pytest.fixture
def recorder() -> RecordingSink:
    """A fresh recording sink."""
    return RecordingSink()


@pytest.fixture(autouse=True)
def _dot_is_required(request: pytest.FixtureRequest) -> None:
    """Tests marked ``dot`` fail, never skip, when Graphviz is missing (CI installs it)."""
    if request.node.get_closest_marker("dot") and shutil.which("dot") is None:
        pytest.fail("Graphviz's `dot` is not on PATH; install it: apt-get install graphviz")
