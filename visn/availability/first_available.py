"""findFirstAvailable: the first free slots of a supplier from a day on, found by scanning
days in bounded concurrent batches (through the shared cache) and stopping once there are
enough."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from keyloop import KeyloopError
from visn.availability.lookup import MAX_DAYS_AHEAD, fetch_days
from visn.contract.errors import FieldError, Reason, booking_error, reason_for_keyloop
from visn.contract.schemas import FirstAvailableRequest
from visn.contract.slots import bookable, slot_json
from visn.infra import clock
from visn.records.suppliers import live_supplier, resolve_services

# Days asked of Keyloop at once: a week, the shape of a dealer's diary. The next batch is
# only asked for when this one has not found enough.
BATCH_DAYS = 7


def find_first_available(
    request: FirstAvailableRequest, charge: Callable[[int], None]
) -> dict[str, Any]:
    """`charge(days)` counts each batch against the caller's availability quota before the
    batch is asked for (a refusal raises RATE_LIMITED)."""
    supplier, store = live_supplier(request.supplierId)
    products, option = resolve_services(supplier, request.serviceTypes, request.optionalService)
    now = clock.now()
    zone = supplier.timezone
    today = now.astimezone(zone).date()
    horizon = today + timedelta(days=MAX_DAYS_AHEAD)
    # A `from` before today (the Web UI's today may be the dealer's yesterday) searches from
    # today: the question is "the first free slot", and the past has none.
    first = max(request.from_ or today, today)
    if first > horizon:
        raise booking_error(
            Reason.VALIDATION,
            fields=[FieldError("from", f"is more than {MAX_DAYS_AHEAD} days ahead")],
        )
    last = min(first + timedelta(days=request.withinDays - 1), horizon)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    found: list[dict[str, Any]] = []
    searched: list[date] = []
    unavailable: list[date] = []
    failures: list[KeyloopError] = []
    for start in range(0, len(days), BATCH_DAYS):
        batch = days[start : start + BATCH_DAYS]
        charge(len(batch))
        for day, outcome in zip(batch, fetch_days(store, batch, products, option), strict=True):
            searched.append(day)
            if isinstance(outcome, KeyloopError):
                unavailable.append(day)
                failures.append(outcome)
                continue
            found.extend(
                {**slot_json(slot, zone), "date": day.isoformat()}
                for slot in bookable(outcome, now)
            )
        if len(found) >= request.count:
            break
    if len(failures) == len(searched):
        raise booking_error(reason_for_keyloop(failures[0])) from failures[0]
    return {
        "supplierId": request.supplierId,
        "timezone": zone.key,
        "slots": found[: request.count],
        "searchedFrom": searched[0].isoformat(),
        "searchedTo": searched[-1].isoformat(),
        "daysSearched": len(searched),
        "unavailableDays": [day.isoformat() for day in unavailable],
    }
