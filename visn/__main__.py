"""Operator commands, against whatever Firestore and Keyloop the environment names.

    python -m visn reconcile [--stuck-after-minutes N] [--max-attempts N]
    python -m visn sync [--max-reads N] [--horizon-days N]   (default: every future booking)
    python -m visn operations list --state OUTCOME_UNKNOWN|NEEDS_ATTENTION
    python -m visn operations resolve OPID --booked APPOINTMENT_ID | --not-booked
    python -m visn suppliers validate FILE.json
    python -m visn suppliers import FILE.json
    python -m visn keyloop-check --supplier ID [--date YYYY-MM-DD] [--service-type CODE]
        [--optional-service CODE]

Environment: GCLOUD_PROJECT (or GOOGLE_CLOUD_PROJECT), FIRESTORE_EMULATOR_HOST for an
emulator, KEYLOOP_BASE_URL, and KEYLOOP_CLIENT_ID + KEYLOOP_CLIENT_SECRET or
KEYLOOP_CREDENTIALS_SECRET, as the deployed functions use. `suppliers validate` needs none
of it. Exit status: 0 done, 1 problems found or a check failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date, timedelta


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    if args.command == "reconcile":
        from visn.saga.reconciler import ReconcilerIncomplete, ReconcilerSettings
        from visn.saga.reconciler import reconcile as run

        try:
            report = run(
                ReconcilerSettings(
                    stuck_after=timedelta(minutes=args.stuck_after_minutes),
                    max_attempts=args.max_attempts,
                )
            )
        except ReconcilerIncomplete as incomplete:
            print(json.dumps(incomplete.report.as_dict()))
            return 1
        print(json.dumps(report.as_dict()))
        return 0
    if args.command == "sync":
        from visn.sync.polling import SyncSettings, sync

        # By hand: every future BOOKED enquiry (in the horizon, if one is given) now,
        # whatever its interval, nearest first; unbounded unless --max-reads says otherwise.
        horizon = timedelta(days=args.horizon_days) if args.horizon_days else None
        synced = sync(SyncSettings(horizon=horizon, max_reads=args.max_reads, force=True))
        print(json.dumps(synced.as_dict()))
        return 1 if synced.failed or synced.item_failures else 0
    if args.command == "operations":
        return _operations(args)
    if args.command == "suppliers":
        from visn.operator.onboarding_report import import_command, validate_command

        command = validate_command if args.action == "validate" else import_command
        return command(args.file, sys.stdout)
    if args.command == "keyloop-check":
        from visn.operator.supplier_check import keyloop_check_command

        return keyloop_check_command(
            args.supplier,
            sys.stdout,
            day=args.date,
            service_type=args.service_type,
            optional_service=args.optional_service,
        )
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m visn", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    reconcile = commands.add_parser("reconcile", help="settle stale operations and owed cancels")
    reconcile.add_argument(
        "--stuck-after-minutes",
        type=_stuck_after,
        default=10.0,
        help="leave items younger than this alone (at least the longest a call can run)",
    )
    reconcile.add_argument("--max-attempts", type=_positive, default=5)

    ops = commands.add_parser("operations", help="items only a person can settle")
    op_actions = ops.add_subparsers(dest="action", required=True)
    listing = op_actions.add_parser("list", help="one line per item in that state")
    listing.add_argument("--state", required=True, choices=("OUTCOME_UNKNOWN", "NEEDS_ATTENTION"))
    resolve = op_actions.add_parser(
        "resolve", help="settle an operation after checking the dealer's diary"
    )
    resolve.add_argument("operation_id", metavar="OPID")
    found = resolve.add_mutually_exclusive_group(required=True)
    found.add_argument("--booked", metavar="APPOINTMENT_ID", help="the appointment exists")
    found.add_argument("--not-booked", action="store_true", help="there is no appointment")

    sync = commands.add_parser(
        "sync",
        help="re-read from Keyloop every future BOOKED enquiry now, nearest first, and apply "
        "what the dealer changed (as syncDmsBookings does, without its intervals and bound)",
    )
    sync.add_argument(
        "--max-reads",
        type=_positive,
        default=None,
        help="Keyloop reads at most (default: no bound, one per future booking)",
    )
    sync.add_argument(
        "--horizon-days",
        type=_positive,
        default=None,
        help="only slots within this many days (default: every future booking)",
    )

    suppliers = commands.add_parser(
        "suppliers", help="check and import supplier files (docs/suppliers.md)"
    )
    actions = suppliers.add_subparsers(dest="action", required=True)
    validate = actions.add_parser(
        "validate", help="check a supplier file; one line per problem, with its JSON path"
    )
    validate.add_argument("file", metavar="FILE.json")
    load = actions.add_parser(
        "import", help="check, then write (replace) suppliers/{supplierId} for each supplier"
    )
    load.add_argument("file", metavar="FILE.json")

    check = commands.add_parser(
        "keyloop-check",
        help="read a supplier from Firestore and ask its Keyloop store for availability once",
    )
    check.add_argument("--supplier", required=True, metavar="ID", help="ViSN supplier id")
    check.add_argument(
        "--date", type=_date, help="YYYY-MM-DD (default: today in the supplier's time zone)"
    )
    check.add_argument(
        "--service-type",
        metavar="CODE",
        help="ViSN service type to ask for (default: the first mapped, in the order "
        "SERVICE, MOT, REPAIR, TYRE, GLASS)",
    )
    check.add_argument(
        "--optional-service", metavar="CODE", help="also send this optional service's option id"
    )
    return parser


def _operations(args: argparse.Namespace) -> int:
    from visn.infra.clients import firestore_client
    from visn.operator.attention import ResolveError, list_items, resolve

    client = firestore_client()
    if args.action == "list":
        list_items(client, args.state, sys.stdout)
        return 0
    try:
        done = resolve(client, args.operation_id, booked=args.booked)
    except ResolveError as exc:
        print(f"not resolved: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps({"operationId": done.operation_id, "status": done.status, "action": done.action})
    )
    return 0


def _stuck_after(value: str) -> float:
    from visn.saga.reconciler import MIN_STUCK_AFTER

    minutes = float(value)
    floor = MIN_STUCK_AFTER.total_seconds() / 60
    if minutes < floor:
        raise argparse.ArgumentTypeError(
            f"must be at least {floor:g}: a younger item may still be in a live call's hands"
        )
    return minutes


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a date, YYYY-MM-DD") from None


if __name__ == "__main__":
    sys.exit(main())
