"""bench/engine_floor.py, line (f) of bench_engine.py: the floor it measures must run the
same DAG the other lines run — every task once, with its upstreams' results — and record
what it claims to, or its figure would flatter the design."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from bench_engine import upstreams_of
from engine_floor import FloorEngine

WIDTH = 10


@pytest.mark.parametrize("record", [False, True], ids=["bare", "recording"])
@pytest.mark.parametrize("suspend", [False, True], ids=["return-at-once", "suspend"])
def test_the_floor_runs_every_task_once_with_its_upstreams_results(
    record: bool, suspend: bool,
) -> None:
    n = 500
    runs: Counter[int] = Counter()

    def body_of(i: int) -> Any:
        async def body(*values: int) -> int:
            runs[i] += 1
            if suspend:
                await asyncio.sleep(0)
            return 1 + sum(values)
        return body

    async def main() -> None:
        engine = FloorEngine(n, record)
        handles, expected = [], []
        for i in range(n):
            if i < WIDTH:
                handles.append(engine.call(body_of(i)))
                expected.append(1)
            else:
                a, b = upstreams_of(i, WIDTH)
                handles.append(engine.call(body_of(i), handles[a], handles[b]))
                expected.append(1 + expected[a] + expected[b])
        await engine.finished
        assert [h.result() for h in handles] == expected
        assert runs == Counter(range(n))
        if record:
            cells, deps = engine.cells, engine.dep_ids
            assert len(cells) == 5 * n
            begin = 0
            for i, handle in enumerate(handles):
                task_id, called, started, ended, deps_end = cells[5 * i:5 * i + 5]
                assert task_id == id(handle) and 0 <= called <= started <= ended
                ups = [] if i < WIDTH else [id(handles[k]) for k in upstreams_of(i, WIDTH)]
                assert list(deps[begin:deps_end]) == ups
                begin = deps_end

    asyncio.run(main())
