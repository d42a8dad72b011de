"""Operator commands, against whatever Firestore and Keyloop the environment names.

    python -m visn reconcile [--stuck-after-minutes N] [--max-attempts N]

Environment: GCLOUD_PROJECT (or GOOGLE_CLOUD_PROJECT), FIRESTORE_EMULATOR_HOST for an
emulator, KEYLOOP_BASE_URL, and KEYLOOP_CLIENT_ID + KEYLOOP_CLIENT_SECRET or
KEYLOOP_CREDENTIALS_SECRET, as the deployed functions use.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import timedelta


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m visn", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    reconcile = commands.add_parser("reconcile", help="settle stale operations and owed cancels")
    reconcile.add_argument("--stuck-after-minutes", type=float, default=10.0)
    reconcile.add_argument("--max-attempts", type=int, default=5)
    args = parser.parse_args(argv)

    if args.command == "reconcile":
        from .reconciler import ReconcilerSettings
        from .reconciler import reconcile as run

        report = run(
            ReconcilerSettings(
                stuck_after=timedelta(minutes=args.stuck_after_minutes),
                max_attempts=args.max_attempts,
            )
        )
        print(json.dumps(report.as_dict()))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
