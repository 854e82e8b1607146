"""The ``aiodag`` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from .demo import etl_pipeline
from .run import Run

__all__ = ["main"]


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiodag", description="Build and run asyncio DAGs.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser("demo", help="run the seed's ETL pipeline and summarise it")
    demo.add_argument("--speed", type=_positive, default=0.1,
                      help="multiply the seed's sleep times (default 0.1: about 1 s)")
    return parser


def summary(run: Run) -> str:
    """Makespan, critical path and a per-task table of a finished run."""
    lines = [f"run {run.name!r}: {len(run.tasks)} tasks, makespan {run.makespan:.3f} s"]
    path = run.critical_path()
    lines.append("critical path: " + " → ".join(r.label for r in path))
    width = max((len(r.label) for r in run.tasks), default=5)
    lines.append(f"{'task':<{width}}  {'status':<15} {'start':>7} {'duration':>9}")
    for r in run.tasks:
        start = "-" if r.started is None else f"{r.started:.3f}"
        duration = "-" if r.duration is None else f"{r.duration:.3f}"
        lines.append(f"{r.label:<{width}}  {r.status:<15} {start:>7} {duration:>9}")
    return "\n".join(lines)


async def _demo(speed: float) -> Run:
    async with Run("etl") as run:
        etl_pipeline(speed)
    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aiodag`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        run = asyncio.run(_demo(args.speed))
        print(summary(run))
        return 0
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
