"""Shared fixtures: every test starts and ends with no global sink."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from aiodag import sinks
from aiodag.testing import RecordingSink

if TYPE_CHECKING:
    # Imported by the fixtures that need it: the engine's tests run without the trace
    # extra (and oteltest) installed, on each Python in .ci/pythons.
    from otlp_receivers import Received


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


@pytest.fixture
def grpc_receiver() -> Iterator[tuple[Received, int]]:
    """A real OTLP/gRPC receiver on 127.0.0.1: what it received, and its port."""
    from otlp_receivers import grpc_receiver_running

    yield from grpc_receiver_running()


@pytest.fixture
def http_receiver() -> Iterator[tuple[Received, int]]:
    """A real OTLP/HTTP receiver on 127.0.0.1: what it received, and its port."""
    from otlp_receivers import http_receiver_running

    yield from http_receiver_running()
