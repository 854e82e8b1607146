"""Every Python snippet of the README runs as written.

Each ```` ```python ```` block is written to a file and run by a fresh interpreter in an
empty folder, so a snippet that leans on a name from another one, on top-level
``await`` or on a file it does not make fails here.  Sleeps are scaled down: before the
snippet runs, ``asyncio.sleep`` is replaced on the ``asyncio`` module by one that sleeps
``SLEEP_SCALE`` times as long (snippets call it through the module, as pipelines do; the
engine itself never sleeps, so only the pretend work of the examples gets shorter, and
the ETL example's 9 s take 0.09 s).  A snippet passes when it exits 0 with no traceback,
no "never retrieved" / "never awaited" report and no exception ignored on stderr.

An HTML comment on the line before a block (invisible where the README is shown) names
it, for the tests below that check more than that it runs::

    <!-- snippet: NAME -->
    <!-- snippet: NAME; needs task(retries=), Run(limit=), aiodag.outcome -->

With ``needs``, the snippet runs only once this aiodag has every feature listed (a
keyword of ``task`` or ``Run``, or an attribute of ``aiodag``); until then it is
skipped, and pytest prints the reason with the missing features.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import aiodag

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
SLEEP_SCALE = 0.01

# Runs a snippet file (argv[1]), or with `-m MODULE ARGS...` a module, with sleeps scaled.
RUNNER = """
import asyncio, os, runpy, sys

_sleep = asyncio.sleep
SCALE = float(os.environ["AIODAG_README_SLEEP_SCALE"])

async def sleep(delay, result=None):
    return await _sleep(delay * SCALE, result)

asyncio.sleep = sleep
if sys.argv[1] == "-m":
    sys.argv = sys.argv[2:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
"""

BLOCK = re.compile(r"(?:<!-- snippet: (?P<marker>[^>]*?) -->\n)?```python\n(?P<code>.*?)```\n",
                   re.S)
TROUBLE = ("Traceback", "never retrieved", "never awaited", "Exception ignored",
           "Task was destroyed")


@dataclass(frozen=True)
class Snippet:
    line: int
    code: str
    name: str | None
    needs: tuple[str, ...]
    after: str
    """The README's text after the block (for the output it shows)."""

    @property
    def id(self) -> str:
        return f"{self.name or 'line'}-{self.line}"


def snippets() -> list[Snippet]:
    text = README.read_text()
    found = []
    for match in BLOCK.finditer(text):
        marker = match["marker"] or ""
        name, _, needs = (part.strip() for part in marker.partition(";"))
        needs = needs.removeprefix("needs").strip()
        found.append(Snippet(
            line=text.count("\n", 0, match.start("code")) + 1,
            code=match["code"],
            name=name or None,
            needs=tuple(n.strip() for n in needs.split(",") if n.strip()),
            after=text[match.end():],
        ))
    return found


def the(name: str) -> Snippet:
    (snippet,) = (s for s in snippets() if s.name == name)
    return snippet


def has(feature: str) -> bool:
    """Does this aiodag have ``feature``: `task(retries=)`, `Run(limit=)`, `aiodag.outcome`?"""
    call = re.fullmatch(r"(task|Run)\((\w+)=\)", feature)
    if call:
        target = aiodag.task if call[1] == "task" else aiodag.Run
        return call[2] in inspect.signature(target).parameters
    attribute = re.fullmatch(r"aiodag\.(\w+)", feature)
    assert attribute, f"README marker: unknown feature {feature!r}"
    return hasattr(aiodag, attribute[1])


def skip_unless_present(snippet: Snippet) -> None:
    missing = [f for f in snippet.needs if not has(f)]
    if missing:
        pytest.skip(f"README line {snippet.line}: needs {', '.join(missing)}, "
                    "not in this aiodag yet")


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """Run a snippet file or ``-m module ...`` in ``cwd`` with sleeps scaled; check it."""
    environment = {**os.environ, "AIODAG_README_SLEEP_SCALE": str(SLEEP_SCALE), **(env or {})}
    done = subprocess.run([sys.executable, "-c", RUNNER, *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for trouble in TROUBLE:
        assert trouble not in done.stderr, done.stderr
    return done


def run_snippet(snippet: Snippet, cwd: Path, env: dict[str, str] | None = None,
                ) -> subprocess.CompletedProcess[str]:
    path = cwd / "snippet.py"
    path.write_text(snippet.code)
    return run([str(path)], cwd, env)


def test_the_snippets_are_found() -> None:
    """The parser sees every block: as many as ```python fences in the README."""
    assert len(snippets()) == README.read_text().count("```python\n") >= 19


@pytest.mark.dot
@pytest.mark.parametrize("snippet", [s for s in snippets() if s.name is None],
                         ids=lambda s: s.id)
def test_snippet_runs(snippet: Snippet, tmp_path: Path) -> None:
    """An unnamed snippet runs as written, on its own."""
    run_snippet(snippet, tmp_path)


def test_every_named_snippet_has_its_test() -> None:
    """A named snippet is run by one of the tests below, never left out."""
    assert sorted(s.name for s in snippets() if s.name) == sorted(
        ["pipeline.py", "read-back", "options", "typed", "jaeger", "after-demo", "dask"]
    )


@pytest.mark.dot
def test_write_your_own_pipeline(tmp_path: Path) -> None:
    """`aiodag run pipeline.py` prints what the README shows and writes what it lists."""
    (tmp_path / "pipeline.py").write_text(the("pipeline.py").code)
    done = run(["-m", "aiodag", "run", "pipeline.py"], tmp_path)
    shown = the("pipeline.py").after.split("```text\n", 1)[1].split("```", 1)[0]
    first, second, third = shown.splitlines()[:3]
    lines = done.stdout.splitlines()
    assert lines[0] == first
    assert re.sub(r"[\d.]+ s$", "", lines[1]) == re.sub(r"[\d.]+ s$", "", second)
    assert lines[2] == third
    listed = the("pipeline.py").after.split("## The seed's examples", 1)[0]
    files = set(re.findall(r"`((?:pipeline|trace|timeline|run)[\w.]*\.(?:svg|png|html|js|"
                           r"jsonl|json))`", listed.split("and writes into", 1)[1]
                           .split("If a task fails", 1)[0]))
    assert files == {p.name for p in (tmp_path / "aiodag-out").iterdir()}


@pytest.mark.dot
def test_a_run_read_back_from_its_trace(tmp_path: Path) -> None:
    """The read-back snippet finds the run `aiodag run pipeline.py` traced, task by task."""
    (tmp_path / "pipeline.py").write_text(the("pipeline.py").code)
    run(["-m", "aiodag", "run", "pipeline.py"], tmp_path)
    lines = run_snippet(the("read-back"), tmp_path).stdout.splitlines()
    assert lines[0].startswith("pipeline ") and lines[0].endswith(
        "fetch(4) → parse(fetch#9) → store([parse#2, parse#4, parse#6, parse#8, ...])")
    assert len(lines) == 1 + 11 and all(" ok " in line for line in lines[1:])


@pytest.mark.dot
def test_reading_the_trace_aiodag_demo_wrote(tmp_path: Path) -> None:
    """The "Read a trace back" snippet, after `aiodag demo` as its comment says."""
    run(["-m", "aiodag", "demo"], tmp_path)
    done = run_snippet(the("after-demo"), tmp_path)
    makespan, path = done.stdout.split(" ", 1)
    assert float(makespan) > 0
    labels = ast.literal_eval(path)  # with sleeps of milliseconds, which branch is critical varies
    assert labels[0].startswith("fetch(") and labels[-1].startswith("upload(")
    assert (tmp_path / "again.svg").read_text().count('class="node') == 14


def test_the_options_snippet(tmp_path: Path) -> None:
    """Retries, timeout, limits, outcomes: 9 of the 10 pages parsed, page 3 on its retry."""
    snippet = the("options")
    skip_unless_present(snippet)
    done = run_snippet(snippet, tmp_path)
    assert done.stdout.splitlines()[0] == "9 of 10 pages parsed"


# Runs a snippet (argv[1]) with a Dask scheduler that answers the workers' heartbeats
# 2 s late, as one starved of CPU may: a worker that closes meanwhile aborts its own
# heartbeat and logs "Failed to communicate with scheduler during heartbeat" with a
# traceback (dask/distributed#7105): here, with the CPU kept busy, one run in 40.
LATE_HEARTBEATS = """
import asyncio, runpy, sys
from distributed import Scheduler

started = Scheduler.__init__

def __init__(self, *args, **kwargs):
    started(self, *args, **kwargs)
    answer = self.handlers["heartbeat_worker"]

    async def late(*args, **kwargs):
        woken = asyncio.get_running_loop().create_future()  # asyncio.sleep is scaled here
        asyncio.get_running_loop().call_later(2, woken.set_result, None)
        await woken
        return answer(*args, **kwargs)

    self.handlers["heartbeat_worker"] = late

Scheduler.__init__ = __init__
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def test_the_dask_snippet_shuts_its_cluster_down_quietly(tmp_path: Path) -> None:
    """Same sum on the loop's threads and on the cluster; no traceback at shutdown, even
    from a scheduler slow to answer heartbeats (the snippet's workers send none)."""
    (tmp_path / "snippet.py").write_text(the("dask").code)
    (tmp_path / "late_heartbeats.py").write_text(LATE_HEARTBEATS)
    done = run([str(tmp_path / "late_heartbeats.py"), str(tmp_path / "snippet.py")], tmp_path)
    here, on_the_cluster = done.stdout.split()
    assert here == on_the_cluster


def test_the_jaeger_snippet_exports_to_a_real_receiver(tmp_path: Path) -> None:
    """Pointed at a real OTLP/gRPC receiver (by the standard variable), the spans arrive."""
    from otlp_receivers import grpc_receiver_running

    receiver = grpc_receiver_running()
    received, port = next(receiver)
    try:
        run_snippet(the("jaeger"), tmp_path,
                    {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"})
        names = sorted(span["name"] for span in received.spans())
    finally:
        receiver.close()
    assert names == ["etl", "fetch", "fetch", "merge"]


def test_the_typed_snippet_gets_the_errors_shown(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """mypy with the plugin prints exactly the lines the README shows below the snippet."""
    from mypy import api

    snippet = the("typed")
    (tmp_path / "typed.py").write_text(snippet.code)
    (tmp_path / "mypy.toml").write_text(
        f'[tool.mypy]\nstrict = true\nmypy_path = {str(ROOT)!r}\nplugins = ["aiodag.mypy"]\n'
    )
    monkeypatch.chdir(tmp_path)
    out, err, status = api.run(["--config-file", "mypy.toml", "--no-error-summary",
                                "--no-pretty", "typed.py"])
    shown = snippet.after.split("```text\n", 1)[1].split("```", 1)[0]
    assert (out, err, status) == (shown, "", 1)
    # And it runs: the correct call prints its result (the four mistakes fail their tasks).
    assert "a1xa2x" in subprocess.run(
        [sys.executable, "-c", snippet.code + "\nasyncio.run(main())\n"],
        capture_output=True, text=True, timeout=60,
    ).stdout
