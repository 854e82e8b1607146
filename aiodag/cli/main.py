"""Parsing the command line and running the commands.

Bad input of any kind (a missing file, no such function, a file that is not a trace,
an unknown command) ends in one ``aiodag: error: …`` line on stderr and exit status 2,
never a traceback.  A pipeline that fails exits with status 1, after writing its
drawing and its trace: a failed run is when people most need them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from subprocess import CalledProcessError
from typing import Any, NoReturn

from .. import __version__
from ..demo import etl_pipeline
from ..events import TaskStatus
from ..viz.options import DIRECTIONS
from .errors import UsageError
from .outputs import Outputs
from .pipeline import load_pipeline
from .report import FULL_TABLE_MAX, failure_report, summary

__all__ = ["UsageError", "main"]



class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block plus a line: the rest is in --help.
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text!r}")
    return value


def _add_export_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("aiodag-out"), metavar="DIR",
                        help="where to write pipeline.svg, pipeline.png and trace.jsonl "
                             "(default: ./aiodag-out)")
    parser.add_argument("--otlp", metavar="URL", default=None,
                        help="also export the trace over OTLP to this endpoint, e.g. Jaeger's "
                             "http://localhost:4317 (default: $OTEL_EXPORTER_OTLP_ENDPOINT)")
    parser.add_argument("--otlp-protocol", choices=("grpc", "http"), default=None,
                        help="OTLP transport (default: $OTEL_EXPORTER_OTLP_PROTOCOL, else "
                             "http for port 4318 or a /v1/traces path, else grpc)")
    parser.add_argument("--all-tasks", action="store_true",
                        help=f"print a row for every task and the whole critical path "
                             f"(by default runs of over {FULL_TABLE_MAX} tasks are "
                             "summarised)")


def _add_drawing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--direction", choices=DIRECTIONS, default="LR",
                        help="LR left to right (default) or TB top-down (also RL, BT)")
    parser.add_argument("--slack", action="store_true", help="show each task's slack")
    parser.add_argument("--aggregate-above", type=int, default=500, metavar="N",
                        help="draw one node per task name above N tasks (default 500)")
    parser.add_argument("--stack", type=int, default=5, metavar="N",
                        help="draw N or more sibling calls of a fan-out as one stacked node "
                             "(default 5; 0 draws every call)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aiodag", description="Build, run, trace and draw asyncio DAGs.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)

    demo = commands.add_parser("demo", help="run the seed's ETL pipeline, write its "
                                            "drawing and trace, print a summary")
    demo.add_argument("--speed", type=_positive, default=0.1,
                      help="multiply the seed's sleep times (default 0.1: about 1 s)")
    _add_export_options(demo)
    _add_drawing_options(demo)

    run = commands.add_parser("run", help="run your pipeline: FILE.py[:FUNC], FUNC "
                                          "an async function (default main)")
    run.add_argument("target", metavar="FILE.py[:FUNC]")
    run.add_argument("--name", default=None, help="the run's name (default: the file's stem)")
    _add_export_options(run)
    _add_drawing_options(run)

    render = commands.add_parser("render", help="draw the DAG of a run stored in an OTLP "
                                                "JSON trace file")
    render.add_argument("trace", type=Path, metavar="TRACE.jsonl")
    render.add_argument("-o", "--output", type=Path, default=None, metavar="OUT",
                        help="the drawing: .svg, .png, .pdf, .dot, or .mmd for a Mermaid "
                             "flowchart (default: TRACE.svg); .json writes a Perfetto / "
                             "Chrome trace instead")
    render.add_argument("--run", dest="run_name", default=None, metavar="NAME",
                        help="which run, when the file holds several (default: the last)")
    render.add_argument("--timeline", action="store_true",
                        help="draw the run on a time axis (.svg, .png or .pdf; default "
                             "TRACE.timeline.svg) instead of its DAG")
    _add_drawing_options(render)

    diff = commands.add_parser("diff", help="compare two runs stored in OTLP JSON trace "
                                            "files: a table, and a drawing with -o")
    diff.add_argument("before", type=Path, metavar="A.jsonl")
    diff.add_argument("after", type=Path, metavar="B.jsonl")
    diff.add_argument("-o", "--output", type=Path, default=None, metavar="OUT",
                      help="also draw the second run's DAG with the changes: .svg, .png, "
                           ".pdf or .dot")
    diff.add_argument("--run", dest="run_name", default=None, metavar="NAME",
                      help="which run of each file, when they hold several (default: the last)")
    diff.add_argument("--threshold", type=_positive, default=0.2,
                      help="a task is slower or faster when its duration changed by more "
                           "than this fraction (default 0.2: 20%%)")
    diff.add_argument("--direction", choices=DIRECTIONS, default="TB",
                      help="TB top-down (default) or LR left-right")
    return parser


def _drawing_options(args: argparse.Namespace) -> dict[str, Any]:
    from ..viz import Options

    options = {"direction": args.direction, "slack": args.slack,
               "max_nodes": args.aggregate_above, "stack": args.stack}
    try:
        Options.from_kwargs(options)  # before anything runs or is written
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    return options


def _execute(args: argparse.Namespace, name: str,
             pipeline: Callable[[], Awaitable[object]]) -> int:
    outputs = Outputs(args.out, otlp=args.otlp or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
                      otlp_protocol=args.otlp_protocol, options=_drawing_options(args))
    runner = asyncio.Runner()
    result = runner.run(outputs.run(name, pipeline))
    print(summary(result.run, full=args.all_tasks))
    for line in outputs.written():
        print(line)
    if result.failed:
        print(failure_report(result.run, result.pipeline_errors), file=sys.stderr)
    if result.signal is not None:
        cancelled = result.run.counts()[TaskStatus.CANCELLED]
        print(f"aiodag: run {result.run.name!r} stopped by {signal.Signals(result.signal).name}"
              f": {cancelled} task(s) cancelled; the outputs above hold what ran",
              file=sys.stderr)
        # Everything is written and said.  A plain `def` task may still be running in a
        # worker thread (threads cannot be cancelled), and closing the loop would wait
        # for it, maybe for ever: stopped by a signal, the command exits now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + result.signal)  # the shell's convention: 130 SIGINT, 143 SIGTERM
    runner.close()
    if result.exit_request is not None:
        code = result.exit_request.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)  # sys.exit("message"), as Python itself does
        return 1
    return 1 if result.failed else 0


def _demo(args: argparse.Namespace) -> int:
    speed: float = args.speed

    async def pipeline() -> object:
        return await etl_pipeline(speed)

    return _execute(args, "etl", pipeline)


def _run(args: argparse.Namespace) -> int:
    loaded = load_pipeline(args.target)
    return _execute(args, args.name or loaded.default_name, loaded.function)


def _render(args: argparse.Namespace) -> int:
    from ..trace.stored import TraceFileError, load_run
    from ..viz import GraphvizNotFoundError, render

    default = ".timeline.svg" if args.timeline else ".svg"
    output: Path = args.output or args.trace.with_suffix(default)
    try:
        run = load_run(args.trace, args.run_name)
        if args.timeline:
            path = _timeline(run, output)
        elif output.suffix.lower() == ".json":
            from .. import perfetto

            path = perfetto.write(run, output)
        else:
            path = render(run, output, **_drawing_options(args))
    except (TraceFileError, GraphvizNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    except CalledProcessError as exc:  # dot refused the drawing: a bug of ours, still one line
        reason = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        raise UsageError(f"Graphviz's dot could not draw run {run.name!r}: "
                         f"{reason[0] if reason else exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot write {str(output)!r}: {exc.strerror or exc}") from None
    print(f"rendered run {run.name!r} ({len(run.tasks)} tasks) to {path}")
    return 0


def _timeline(run: Any, output: Path) -> Path:
    try:
        from ..viz import timeline
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    return timeline(run, output)


def _diff(args: argparse.Namespace) -> int:
    from ..trace.stored import TraceFileError, load_run
    from ..viz import GraphvizNotFoundError, compare, render_diff
    from .diffreport import diff_report

    try:
        before = load_run(args.before, args.run_name)
        after = load_run(args.after, args.run_name)
        print(diff_report(compare(before, after, threshold=args.threshold)))
        if args.output is not None:
            path = render_diff(before, after, args.output, threshold=args.threshold,
                               direction=args.direction)
            print(f"drawing: {path}")
    except (TraceFileError, GraphvizNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write {str(args.output)!r}: {exc.strerror or exc}") from None
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": _demo,
    "run": _run,
    "render": _render,
    "diff": _diff,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aiodag`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    # Task failures are logged (logger "aiodag") with their tracebacks; say whose they are.
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(levelname)s: %(message)s")
    try:
        return _COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"aiodag: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aiodag: interrupted", file=sys.stderr)
        return 130
