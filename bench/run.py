"""`python -m bench.run`: the booking path against its physical limit and the naive flow.

Starts the Keyloop sandbox (a fixed added latency per call) and the Firestore emulator, drives
the callables in this process through the real `on_call` wrapper, prints a table and, on the
last line, the same figures as one JSON object (also written to `--out`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import phases
from .imports import ImportFigures, measure_imports
from .report import Figures, profile_text, table
from .stack import ROOT, Stack, running_stack

DEFAULT_OUT = ROOT / "bench" / "results" / "latest.json"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.monotonic()
    out: Path = args.out
    log_dir = out.parent / "logs"
    say(f"cold start: importing main and https_fn in {args.import_runs} fresh interpreters each")
    imports = measure_imports(out.parent / "pycache", args.import_runs)
    say(f"starting the Keyloop sandbox (+{args.latency_ms:g} ms per call) and Firestore emulator")
    with running_stack(args.latency_ms, log_dir) as stack:
        os.environ.update(stack.environment())
        stack.seed_suppliers()
        figures = _measure(args, stack, imports, log_dir)
    holds = figures.holds()
    result = figures.to_json()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(figures))
    print()
    print(profile_text(figures.server))
    print()
    print(
        f"machine: {os.cpu_count()} cores, {_memory_gib():.0f} GiB, Python "
        f"{platform.python_version()}; sandbox latency {args.latency_ms:g} ms per call; "
        f"{args.iterations} iterations; run took {time.monotonic() - started:.0f} s"
    )
    missed = [name for name, ok in holds.items() if not ok]
    print(f"targets missed: {', '.join(missed)}" if missed else "every target holds")
    print(f"figures written to {out}")
    print(json.dumps(result, separators=(",", ":")), flush=True)
    return 0


def _measure(
    args: argparse.Namespace, stack: Stack, imports: ImportFigures, log_dir: Path
) -> Figures:
    from .bare import BareFirestore, BareKeyloop
    from .driver import Driver
    from .measure import FirestoreCounter, median
    from .naive import NaiveFlow
    from .plan import Plan

    plan = Plan.from_today()
    counter = FirestoreCounter()
    counter.install()
    bench = phases.Bench(
        stack=stack,
        driver=Driver(),
        plan=plan,
        counter=counter,
        bare=BareKeyloop(stack.sandbox_url, plan),
        firestore=BareFirestore(),
        naive=NaiveFlow(stack.sandbox_url, plan),
    )
    n = args.iterations
    counted, ranged, created = max(3, n // 20), max(3, n // 10), max(5, n // 2)
    # The functions log one JSON line per call to stdout: keep them, out of the way.
    with (
        (log_dir / "functions.log").open("w") as functions_log,
        contextlib.redirect_stdout(functions_log),
    ):
        say(f"warming up (booking day {phases.days_label(plan)})")
        phases.warm_up(bench)
        say("1. Keyloop requests and Firestore operations per warm call, ours and naive")
        counts = phases.count_calls(bench, counted)
        say(f"2. warm getAvailability against a bare round trip, {n} each")
        availability = phases.availability(bench, n)
        say(f"3. 7 days against 1 day, ours and naive, {ranged} each")
        ranges = phases.ranges(bench, ranged)
        say(f"4. createBooking against a bare round trip and bare writes, {created} each")
        create = phases.create(bench, created)
        say(f"5. {args.callers} concurrent getAvailability calls from a cold token cache")
        burst = phases.burst(bench, args.callers, median(availability.ours_ms) / 1000)
        bare_burst = phases.bare_burst(bench, args.callers)
    from . import server

    latencies = ", ".join(f"{x:g}" for x in args.server_latency_ms)
    say(
        f"7. getAvailability served by functions-framework (gunicorn) over HTTP: "
        f"{args.callers} concurrent calls at +{latencies} ms, THREADS={server.DEFAULT_THREADS} "
        f"and {server.deployed_threads()}; CPU per call; a py-spy profile"
    )
    served = server.measure(stack, plan, args.server_latency_ms, args.callers, log_dir)
    stack.post("latency", {"ms": args.latency_ms})
    from . import cache, served_hits

    say(
        f"9. {args.callers} concurrent cache-hit getAvailability views served by "
        f"functions-framework, THREADS={server.deployed_threads()}"
    )
    hits = served_hits.measure(stack, plan, args.callers, log_dir)

    say(
        f"8. the availability cache: hits at +{'/'.join(f'{x:g}' for x in cache.HIT_LATENCIES_MS)} "
        f"ms, {cache.VIEWS} views by {cache.USERS} users in {args.views_window_s:g} s (twice), "
        f"findFirstAvailable {cache.DAYS_OUT} days out, Firestore reads per cached view"
    )
    with (
        (log_dir / "functions-cache.log").open("w") as functions_log,
        contextlib.redirect_stdout(functions_log),
    ):
        cached = cache.measure(bench, args.latency_ms, n, args.views_window_s)
    bench.bare.close()
    bench.firestore.close()
    counter.uninstall()
    return Figures(
        args.latency_ms,
        counts,
        availability,
        ranges,
        create,
        burst,
        bare_burst,
        imports,
        served,
        cached,
        hits,
    )


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _memory_gib() -> float:
    try:
        with open("/proc/meminfo") as meminfo:
            return int(meminfo.readline().split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        return 0.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="added per Keyloop call")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the JSON goes")
    parser.add_argument(
        "--iterations",
        type=int,
        default=100,
        help="timed warm getAvailability calls (2.); createBooking gets half, 7-day ranges a "
        "tenth, request counts a twentieth",
    )
    parser.add_argument("--callers", type=int, default=80, help="concurrent calls in 5., 7., 9.")
    parser.add_argument(
        "--views-window-s",
        type=float,
        default=60.0,
        help="8b.: the window the 100 views of one store-day are spread over (each run)",
    )
    parser.add_argument("--import-runs", type=int, default=5, help="fresh interpreters in 6.")
    parser.add_argument(
        "--server-latency-ms",
        type=lambda text: [float(x) for x in text.split(",")],
        default=[50.0, 200.0],
        help="Keyloop latencies for 7. (the served function), comma-separated",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
