"""Keyloop tools for operators.

    python -m keyloop check --enterprise E --store S --service-product P [--service-product P2]
        [--option O] [--date YYYY-MM-DD] [--local-times-zone Europe/Dublin]

Environment: KEYLOOP_BASE_URL, and KEYLOOP_CLIENT_ID + KEYLOOP_CLIENT_SECRET or
KEYLOOP_CREDENTIALS_SECRET (a Secret Manager secret; with GOOGLE_CLOUD_PROJECT or
GCLOUD_PROJECT for a short name), as the deployed functions use them. Exit status 0 when
Keyloop answered availability, 1 when anything failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .check import CheckTarget, run_check
from .models import Store


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m keyloop", description="Keyloop tools for operators."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check",
        help="get a token and ask one store's availability once, narrating each step",
        description="Get a token and ask one store's availability once, narrating each step.",
    )
    check.add_argument("--enterprise", required=True, help="Keyloop enterpriseId")
    check.add_argument("--store", required=True, help="Keyloop storeId")
    check.add_argument(
        "--service-product",
        action="append",
        required=True,
        dest="service_products",
        metavar="ID",
        help="Keyloop service product id (repeat for several)",
    )
    check.add_argument("--option", metavar="ID", help="Keyloop appointment option id")
    check.add_argument(
        "--date", type=_date, help="YYYY-MM-DD (default: today, in the store's zone if given)"
    )
    check.add_argument(
        "--local-times-zone",
        type=_zone,
        metavar="ZONE",
        help="the store's DMS means local wall-clock time by ...Z, in this IANA zone",
    )
    args = parser.parse_args(argv)

    zone: ZoneInfo | None = args.local_times_zone
    day: date = args.date or datetime.now(zone or UTC).date()
    target = CheckTarget(
        store=Store(args.enterprise, args.store, zone),
        day=day,
        service_product_ids=tuple(args.service_products),
        appointment_option_id=args.option,
    )
    return 0 if run_check(target).ok else 1


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a date, YYYY-MM-DD") from None


def _zone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError("must be an IANA time zone, e.g. Europe/Dublin") from None


if __name__ == "__main__":
    sys.exit(main())
