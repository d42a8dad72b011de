"""`python -m ops.deploy --project P [--dry-run]` (or `make deploy PROJECT=P [DRY_RUN=1]`).

Runs the pre-flight checks docs/deploy.md describes against the project, each printing one
line (and a fix when it fails), then `firebase deploy --only functions:<our codebase>`. Any
failed check exits 1 before anything is sent. --dry-run runs the same read-only checks and
prints what the deploy would do instead of doing it.

A `demo-` project has no Google behind it: its checks ask the stand-in project shipped in
ops/deploy/standin.json (answers in the CLIs' JSON shapes), except the lock's, which asks PyPI
as for a real project; it is never deployed, so it needs --dry-run. --standin FILE asks
another stand-in (the tests' broken projects).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import manifest
from .preflight import run
from .runner import RealRunner, Runner, StandinRunner

STANDIN = Path(__file__).resolve().parent / "standin.json"
LIVE = frozenset({"pip"})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.deploy", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--project", required=True)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--standin", type=Path, help="answer from this stand-in project")
    args = parser.parse_args(argv)
    demo = args.project.startswith("demo-")
    if demo and not args.dry_run:
        print(
            f"{args.project} is a demo- project (no Google behind it): it can only be checked, "
            "with DRY_RUN=1, against the stand-in",
            file=sys.stderr,
        )
        return 2
    runner: Runner = RealRunner()
    if args.standin or demo:
        # pip needs no Google: the lock is checked against PyPI itself, also for a demo.
        runner = StandinRunner.load(args.standin or STANDIN, args.project, live=LIVE)
        print(f"(Google's answers from the stand-in {runner.path}; pip asks PyPI)")
    return run(args.project, runner, manifest.load(args.project), dry_run=args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
