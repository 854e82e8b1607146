"""The mypy plugin `aiodag.mypy`: mypy itself, run on the fixture files in tests/mypy_fixtures/.

Each fixture marks what mypy must say about a line with trailing comments,
``# E: <error message>  [code]`` or ``# N: <note>``; the test compares mypy's output with
them line for line, so a missing report, an extra one or a changed message fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "mypy_fixtures"
MARK = re.compile(r"#\s*([EN]):\s*(.*?)\s*(?=#\s*[EN]:|$)")


def run_mypy(tmp: Path, *files: Path, plugin: bool = True) -> list[str]:
    """mypy --strict on ``files`` (with the plugin or without), its lines of output."""
    config = tmp / ("with.toml" if plugin else "without.toml")
    config.write_text(
        "[tool.mypy]\nstrict = true\n"
        f"mypy_path = {str(ROOT)!r}\n"  # the package itself, as an editable install hides it
        + ('plugins = ["aiodag.mypy"]\n' if plugin else "")
    )
    out, err, _ = api.run([
        "--config-file", str(config), "--cache-dir", str(tmp / "cache"),
        "--no-error-summary", "--hide-error-context", "--no-pretty",
        *map(str, files),
    ])
    assert err == ""
    # Types in notes are written `str` by mypy 2, `builtins.str` by mypy 1.
    return [line.replace("builtins.", "") for line in out.splitlines() if line]


def expected(path: Path) -> list[str]:
    """The lines mypy must print for a fixture, from its `# E:` / `# N:` comments."""
    lines = []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        for kind, message in MARK.findall(text):
            severity = "error" if kind == "E" else "note"
            lines.append(f"{path.relative_to(ROOT)}:{number}: {severity}: {message}")
    return lines


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """mypy's output per fixture file, from one run over all of them."""
    tmp = tmp_path_factory.mktemp("mypy")
    files = sorted(FIXTURES.glob("*.py"))
    output = run_mypy(tmp, *(f.relative_to(ROOT) for f in files))
    return {f.name: [line for line in output if line.startswith(f"tests/mypy_fixtures/{f.name}:")]
            for f in files}


@pytest.fixture(autouse=True)
def _at_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # mypy reports paths relative to where it runs


def test_the_seed_etl_example_typed_passes_strict(reports: dict[str, list[str]]) -> None:
    """Handles in place of values pass `mypy --strict`; `await` gives the result's type."""
    assert reports["etl.py"] == expected(FIXTURES / "etl.py")
    assert all(": note: " in line for line in reports["etl.py"])


def test_the_four_mistakes_are_reported(reports: dict[str, list[str]]) -> None:
    """Missing argument, wrong types, unknown keyword, TaskHandle[int] where str is declared."""
    assert reports["mistakes.py"] == expected(FIXTURES / "mistakes.py")
    assert len(reports["mistakes.py"]) == 13


def test_parameter_kinds_containers_plain_functions_methods(
    reports: dict[str, list[str]],
) -> None:
    """Every parameter kind; handles nested in lists, tuples and dict values; and the limits."""
    assert reports["shapes.py"] == expected(FIXTURES / "shapes.py")


def test_without_the_plugin_mypy_accepts_the_mistakes(tmp_path: Path) -> None:
    """Why the plugin exists: a task's call is `(*Any, **Any)`, so mypy alone says nothing."""
    assert run_mypy(tmp_path, Path("tests/mypy_fixtures/mistakes.py"), plugin=False) == []


def test_the_engine_never_imports_the_plugin() -> None:
    """`import aiodag` (and running a pipeline) loads neither aiodag.mypy nor mypy."""
    code = (
        "import sys, asyncio, aiodag, aiodag.demo\n"
        "async def main():\n"
        "    await aiodag.demo.etl_pipeline(speed=0.001)\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mypy'"
        " or m == 'aiodag.mypy'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out == "[]\n"
