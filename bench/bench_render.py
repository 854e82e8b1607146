"""Reading stored traces back: ``aiodag render`` on traces of 100,000 and 1,000,000 tasks.

The traces are real: the engine runs the layered DAG of bench_viz.py (layers of 100,
two upstreams per task, four task names) under :class:`aiodag.trace.OpenTelemetrySink`,
and the OpenTelemetry SDK's batch processor writes it with the official OTLP JSON file
exporter, as ``configure(file=...)`` does (with a queue large enough that no span is
dropped).  The 1,000,000-task trace is that 100,000-task trace ten times over in one run
(every copy with its own task and span ids, its links within itself): running a
million real tasks with tracing would take minutes and gigabytes on its own.  Traces
are cached in ``$TMPDIR/aiodag-bench-render`` (delete it to rebuild them).

Each measurement is ``python -m aiodag render TRACE -o OUT.svg`` in a fresh process, as
a user runs it: wall time, and peak memory (the child's maximum resident set size, from
``wait4``), against the file's size.  Rounds alternate between the traces; the
range over rounds is printed.  Baseline, in this process: decoding the same 100,000-task
file with the official OTLP JSON codec (``TracesData.from_dict``), as the reader did
before it read the parsed JSON directly.

    python bench/bench_render.py [--rounds 3] [--no-million] [--no-baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_viz import layered_run

CACHE = Path(tempfile.gettempdir()) / "aiodag-bench-render"
COPY_SHIFT = 56
"""Copy ``k`` of the 100,000-task trace xors its span ids with ``k << COPY_SHIFT``."""


def traced_run(n: int, path: Path) -> None:
    """Run the ``n``-task layered DAG traced into ``path`` (OTLP JSON lines)."""
    from opentelemetry.exporter.otlp.json.file import FileSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from aiodag.trace import OpenTelemetrySink

    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(BatchSpanProcessor(FileSpanExporter(path),
                                                   max_queue_size=n + 10))
    layered_run(n, [OpenTelemetrySink(provider)])
    provider.shutdown()


def _shift_span(span: dict[str, object], k: int, id_offset: int) -> None:
    mask = k << COPY_SHIFT

    def sid(value: object) -> str:
        return f"{int(str(value), 16) ^ mask:016x}"

    span["spanId"] = sid(span["spanId"])
    for link in span.get("links", []):  # type: ignore[attr-defined]
        link["spanId"] = sid(link["spanId"])
    for kv in span.get("attributes", []):  # type: ignore[attr-defined]
        if kv["key"] == "aiodag.task.id":
            kv["value"] = {"intValue": str(int(kv["value"]["intValue"]) + id_offset)}


def replicate(source: Path, copies: int, tasks: int, path: Path) -> None:
    """``copies`` copies of the one-run trace ``source`` as one run, in ``path``."""
    lines = source.read_text().splitlines()
    with path.open("w") as out:
        for k in range(copies):
            for line in lines:
                document = json.loads(line)
                for resource in document["resourceSpans"]:
                    for scope in resource["scopeSpans"]:
                        spans = [s for s in scope["spans"]
                                 if k == 0 or not any(a["key"] == "aiodag.run.id"
                                                      for a in s.get("attributes", []))]
                        for span in spans:
                            if k:
                                _shift_span(span, k, k * tasks)
                            if any(a["key"] == "aiodag.run.id"
                                   for a in span.get("attributes", [])):
                                for a in span["attributes"]:
                                    if a["key"] == "aiodag.run.tasks":
                                        a["value"] = {"intValue": str(tasks * copies)}
                        scope["spans"] = spans
                out.write(json.dumps(document, separators=(",", ":")) + "\n")


def trace_file(n: int) -> Path:
    """The cached trace of ``n`` tasks (100,000 or a multiple of it), built if missing."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"layered-{n}.jsonl"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    base = 100_000
    if n <= base:
        print(f"(building the {n:,}-task trace: running it traced…)", flush=True)
        traced_run(n, tmp)
    else:
        source = trace_file(base)
        print(f"(building the {n:,}-task trace from the {base:,}-task one…)", flush=True)
        replicate(source, n // base, base, tmp)
    tmp.replace(path)
    return path


def render_in_child(trace: Path, out: Path) -> tuple[float, float, int, str]:
    """``aiodag render trace -o out`` in a fresh process: wall seconds, CPU seconds (its
    own and dot's), peak RSS bytes, stdout."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "aiodag", "render", str(trace), "-o",
                                  str(out)], stdout=stdout, stderr=stderr)
        # wait4, not Popen.wait: it also gives the child's own peak resident set size.
        _pid, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"render failed ({child.returncode}): {stderr.read().decode()}")
        cpu = usage.ru_utime + usage.ru_stime
        return seconds, cpu, usage.ru_maxrss * 1024, stdout.read().decode().strip()  # KiB


def codec_baseline(trace: Path) -> float:
    """Seconds to decode ``trace`` with the official OTLP JSON codec (the old reader's way)."""
    from opentelemetry.proto_json.trace.v1.trace import TracesData

    start = time.perf_counter()
    spans = 0
    with trace.open("rb") as file:
        for line in file:
            data = TracesData.from_dict(json.loads(line))
            spans += sum(len(s.spans) for r in data.resource_spans for s in r.scope_spans)
    return time.perf_counter() - start


def _range(values: list[float], fmt: str) -> str:
    values = sorted(values)
    median = values[len(values) // 2]
    return f"{format(median, fmt)} (range {format(values[0], fmt)}–{format(values[-1], fmt)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-million", action="store_true",
                        help="skip the 1,000,000-task trace")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip decoding with the official codec (about 15 s)")
    args = parser.parse_args()
    sizes = [100_000] + ([] if args.no_million else [1_000_000])
    traces = {n: trace_file(n) for n in sizes}
    print(f"Python {sys.version.split()[0]}; `aiodag render TRACE -o OUT.svg` in a fresh "
          f"process; median of {args.rounds} alternating rounds (range)")
    times: dict[int, list[float]] = {n: [] for n in sizes}
    cpus: dict[int, list[float]] = {n: [] for n in sizes}
    peaks: dict[int, list[float]] = {n: [] for n in sizes}
    said: dict[int, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for n in sizes:
                seconds, cpu, rss, said[n] = render_in_child(traces[n], Path(tmp) / f"{n}.svg")
                times[n].append(seconds)
                cpus[n].append(cpu)
                peaks[n].append(rss / 2**20)
    for n in sizes:
        size = traces[n].stat().st_size / 2**20
        ratios = [p / size for p in peaks[n]]
        print(f"{n:>9,} tasks, {size:5.1f} MiB file ({said[n].split(' to ')[0]}):")
        print(f"    wall {_range(times[n], '.2f')} s, CPU {_range(cpus[n], '.2f')} s")
        print(f"    peak memory {_range(peaks[n], '.0f')} MiB = {_range(ratios, '.2f')}× the file")
    if not args.no_baseline:
        start = time.process_time()
        codec_baseline(traces[100_000])
        cpu = time.process_time() - start
        print(f"baseline: the official codec's TracesData.from_dict alone, on the 100,000-task "
              f"file, in this process: {cpu:.2f} s CPU (once) = "
              f"{cpu / sorted(cpus[100_000])[len(cpus[100_000]) // 2]:.1f}× the whole render")
    print("targets: 100,000 tasks in ≤ 3 s; peak memory ≤ 3× the file; 1,000,000 tasks "
          "rendered at all")


if __name__ == "__main__":
    main()
