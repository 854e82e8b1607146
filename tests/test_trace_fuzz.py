"""Fuzzing the trace reader: thousands of mutated trace files, no traceback, no hang.

Each example starts from a real trace (the small pipeline of test_trace_stored, written
by the real sink and exporter) as OTLP JSON lines or as Jaeger's JSON, mutates it — a
value replaced by any JSON value (NaN, Infinity, 2**70, deeply nested arrays…), a key
deleted, a list item repeated, a link pointed at any span (self-links, cycles), bytes
cut or inserted — and reads it.  The reader must either give runs that draw, report
and analyse without error, or raise :class:`TraceFileError`; within two seconds.
"""

from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_trace_stored import otlp_spans, time_limit, to_jaeger, write_trace

import aiodag.viz
from aiodag.cli.report import failure_report, summary
from aiodag.trace.stored import TraceFileError, read_runs

DEEP = "\x00deep\x00"
"""Stands for 5,000 nested arrays, put into the text after json.dumps."""

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6) | (
    st.sampled_from([2**64, 2**70, -1, "", "0", "7", "-5", "0x10", "1e3", "NaN", "Infinity",
                     "ok", "failed", "exogenous", "data", "CHILD_OF", "FOLLOWS_FROM", "]", " ",
                     DEEP])
)
# Flat rather than recursive: cheaper to draw, and a mutation applied twice nests anyway.
json_values = scalars | st.lists(scalars, max_size=3) | st.dictionaries(
    st.sampled_from(["stringValue", "intValue", "doubleValue", "boolValue", "arrayValue",
                     "values", "key", "value", "x"]),
    scalars | st.lists(scalars, max_size=2), max_size=2,
)


def _random_place(document: Any, rng: random.Random) -> tuple[Any, ...]:
    """A path to a random node: a walk down from the root, stopping at random."""
    path: tuple[Any, ...] = ()
    node = document
    while isinstance(node, dict | list) and node and rng.random() < 0.85:
        step = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        path, node = (*path, step), node[step]
    return path


def _id_places(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("spanId", "spanID", "parentSpanId"):
                yield (*path, key)
            elif isinstance(value, dict | list):
                yield from _id_places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _id_places(value, (*path, index))


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


def _mutate(document: Any, rng: random.Random, value: Any, span_ids: list[str]) -> Any:
    path = _random_place(document, rng)
    operation = rng.choice(["replace", "replace", "delete", "repeat", "link", "wrap"])
    if not path:
        return value if operation == "replace" else document
    parent, last = _at(document, path[:-1]), path[-1]
    if operation == "replace":
        parent[last] = value
    elif operation == "delete":
        del parent[last]
    elif operation == "repeat" and isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
    elif operation == "link":  # point some span id (a link's, a parent's) at any span
        ids = list(_id_places(document))
        if ids and span_ids:
            where = rng.choice(ids)
            _at(document, where[:-1])[where[-1]] = rng.choice(span_ids)
    elif operation == "wrap":
        parent[last] = [parent[last]] if rng.random() < 0.5 else {"value": parent[last]}
    return document


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The real trace as JSON text: OTLP JSON (a list of its lines' documents), Jaeger's."""
    path = tmp_path_factory.mktemp("fuzz") / "trace.jsonl"
    write_trace(path)
    otlp = [json.loads(line) for line in path.read_text().splitlines()]
    return [json.dumps(otlp), json.dumps(to_jaeger(otlp_spans(path)))]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where each mutated file goes: in memory when the system has /dev/shm (faster)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        path = shm / f"aiodag-fuzz-{os.getpid()}.json"
    else:
        path = tmp_path_factory.mktemp("scratch") / "mutated.json"
    yield path
    path.unlink(missing_ok=True)


def _text(documents: Any, as_lines: bool, indent: int | None) -> str:
    if as_lines and isinstance(documents, list):
        text = "\n".join(json.dumps(d) for d in documents) + "\n"
    else:
        text = json.dumps(documents, indent=indent)
    return text.replace(json.dumps(DEEP), "[" * 5000 + "]" * 5000)


@settings(max_examples=2000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    which=st.sampled_from([0, 0, 1]),
    seed=st.integers(0, 2**32),
    values=st.lists(json_values, min_size=1, max_size=3),
)
def test_any_mutated_trace_reads_or_is_refused_in_one_error(
    originals: list[str], scratch: Path, which: int, seed: int, values: list[Any]
) -> None:
    rng = random.Random(seed)
    documents = json.loads(originals[which])
    span_ids = [s.get("spanId") for d in (documents if which == 0 else []) for r in
                d["resourceSpans"] for sc in r["scopeSpans"] for s in sc["spans"]]
    if which == 1:
        span_ids = [s["spanID"] for s in documents["data"][0]["spans"]]
    if which == 0 and rng.random() < 0.5:
        documents = documents[0]  # one document rather than lines
    for value in values:
        documents = _mutate(documents, rng, value, span_ids)
    data = _text(documents, as_lines=which == 0 and rng.random() < 0.7,
                 indent=2 if rng.random() < 0.1 else None).encode()
    if rng.random() < 0.2:
        data = data[:rng.randrange(len(data) + 1)]
    if rng.random() < 0.2:
        where = rng.randrange(len(data) + 1)
        data = data[:where] + rng.randbytes(rng.randint(1, 4)) + data[where:]
    path = scratch
    path.write_bytes(data)
    with time_limit(2):
        try:
            runs = read_runs(path)
        except TraceFileError as exc:
            refused = str(exc)
        else:
            refused = ""
        if refused:
            assert "\n" not in refused  # one line, for `aiodag: error: …`
            return
        for run in runs:
            run.critical_path()
            run.counts()
            aiodag.viz.to_graphviz(run, slack=True, aggregate=rng.random() < 0.3)
            summary(run)
            failure_report(run)
