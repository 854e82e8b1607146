"""Names Graphviz used to reject, and exceptions that cannot be printed: drawn all the same.

Graphviz (2.43) refuses HTML-like label text that begins with ``]`` and elements with
nothing in them, so a run named ``]``, a task named `` `` (aggregated) or an exception
class named `` `` made ``dot`` fail; an exception whose ``__str__`` raises crashed the
drawing.  Every case here goes through the real ``dot``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_viz import FakeRun, FakeTask, parse_svg

from aiodag import Run, task, viz
from aiodag.cli.report import failure_report


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


Blank = type(" ", (Exception,), {})


async def _odd_run() -> Run:
    async def body() -> None:
        return None

    async def unprintable() -> None:
        raise Unprintable()

    async def blank() -> None:
        raise Blank("blank type")

    async with Run("]", raise_errors=False) as run:
        task(body, name=" ")()
        task(body, name="]")()
        task(unprintable, name="unprintable")()
        task(blank, name="blank")()
    return run


@pytest.fixture(scope="module")
def odd_run() -> Run:
    logging.getLogger("aiodag").disabled = True  # the two failures are expected
    try:
        return asyncio.run(_odd_run())
    finally:
        logging.getLogger("aiodag").disabled = False


@pytest.mark.dot
@pytest.mark.parametrize("aggregate", [False, True])
def test_names_dot_rejected_are_drawn(odd_run: Run, tmp_path: Path, aggregate: bool) -> None:
    svg = parse_svg(viz.render(odd_run, tmp_path / "odd.svg", aggregate=aggregate).read_bytes())
    assert svg.header().startswith("] ")
    assert len(svg.nodes) == 4
    texts = {name: svg.label_text(name) for name in svg.nodes}
    if aggregate:
        assert texts["g1"][0] == "]"
    else:
        failed = {t.name: str(t.id) for t in odd_run.tasks}
        # The call, the error type (for failed tasks), then the node's own timings.
        assert texts[failed["blank"]][:2] == ["blank()", " "]  # the class is named " "
        assert texts[failed["unprintable"]][:2] == ["unprintable()", "Unprintable"]
        assert texts[failed["]"]][0] == "]()"


def test_an_exception_whose_str_raises_is_drawn_and_reported(odd_run: Run) -> None:
    source = viz.to_graphviz(odd_run).source
    assert "unprintable()\\nfailed\\nUnprintable: <exception str() failed>" in source  # tooltip
    report = failure_report(odd_run, [Unprintable()])
    assert "unprintable(): Unprintable: <exception str() failed>" in report
    assert "the pipeline function itself raised Unprintable: <exception str() failed>" in report


@pytest.mark.dot
async def test_live_svg_draws_an_exception_whose_str_raises(tmp_path: Path) -> None:
    live = viz.LiveSVG(tmp_path / "live.svg", interval=0)

    async def unprintable() -> None:
        raise Unprintable()

    logging.getLogger("aiodag").disabled = True
    try:
        async with Run("live", sinks=[live], raise_errors=False):
            task(unprintable)()
        await live.flush()
    finally:
        logging.getLogger("aiodag").disabled = False
    assert live.last_error is None
    svg = parse_svg((tmp_path / "live.svg").read_bytes())
    assert ["unprintable()", "Unprintable"] in [svg.label_text(n)[:2] for n in svg.nodes]


text = st.text(st.characters(codec="utf-8"), max_size=6) | st.sampled_from(
    ["]", " ", "", "]]>", "\\", '"', "<", "&", "\n"]
)


@pytest.mark.dot
@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(run_name=text, names=st.lists(text, min_size=2, max_size=2),
       labels=st.lists(text, min_size=2, max_size=2), error_type=text, message=text)
def test_any_text_draws_with_dot(run_name: str, names: list[str], labels: list[str],
                                 error_type: str, message: str) -> None:
    tasks = [
        FakeTask(1, names[0], labels[0]),
        FakeTask(2, names[1], labels[1], deps=((1, "data"),), status="failed",
                 error_type=error_type, error_message=message),
    ]
    run = FakeRun(run_name, tasks, path=[1, 2])
    for aggregate in (False, True):
        viz.to_graphviz(run, aggregate=aggregate, slack=True).pipe(format="svg")
