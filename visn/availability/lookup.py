"""getAvailability: free slots of a supplier over 1-14 days, from the shared cache or Keyloop
(days fetched concurrently)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from keyloop import KeyloopError, Slot, Store
from visn.availability import cache as availability_cache
from visn.contract.errors import FieldError, Reason, booking_error, reason_for_keyloop
from visn.contract.schemas import AvailabilityRequest
from visn.contract.slots import bookable, slot_json
from visn.infra import clock
from visn.infra.clients import firestore_client, keyloop_client
from visn.records.suppliers import live_supplier, resolve_services

MAX_DAYS_AHEAD = 180
_POOL_SIZE = 64  # bounds Keyloop fan-out per process, whatever the number of requests

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def get_availability(request: AvailabilityRequest) -> dict[str, Any]:
    supplier, store = live_supplier(request.supplierId)
    products, option = resolve_services(supplier, request.serviceTypes, request.optionalService)
    now = clock.now()
    today = now.astimezone(supplier.timezone).date()
    if request.date < today:
        raise booking_error(Reason.VALIDATION, fields=[FieldError("date", "is in the past")])
    if request.date > today + timedelta(days=MAX_DAYS_AHEAD):
        raise booking_error(
            Reason.VALIDATION,
            fields=[FieldError("date", f"is more than {MAX_DAYS_AHEAD} days ahead")],
        )
    days = [request.date + timedelta(days=i) for i in range(request.days)]
    outcomes = fetch_days(store, days, products, option)
    failures = [o for o in outcomes if isinstance(o, KeyloopError)]
    if len(failures) == len(outcomes):
        raise booking_error(reason_for_keyloop(failures[0])) from failures[0]
    return {
        "supplierId": request.supplierId,
        "timezone": supplier.timezone.key,
        "days": [
            _day_json(day, outcome, now, supplier.timezone)
            for day, outcome in zip(days, outcomes, strict=True)
        ],
    }


def _day_json(day: date, outcome: list[Slot] | KeyloopError, now: datetime, zone: Any) -> Any:
    if isinstance(outcome, KeyloopError):
        return {"date": day.isoformat(), "slots": [], "unavailable": True}
    return {"date": day.isoformat(), "slots": [slot_json(s, zone) for s in bookable(outcome, now)]}


def fetch_days(
    store: Store, days: list[date], products: list[str], option: str | None
) -> list[list[Slot] | KeyloopError]:
    """Each day's free slots (or its Keyloop failure): from the shared cache when fresh, else
    one Keyloop call per day, the first on this thread and the rest on the shared pool."""
    keyloop = keyloop_client()

    def fetch(day: date) -> list[Slot]:
        return keyloop.availability(store, day, products, option)

    entries = [availability_cache.Entry(store, day, tuple(products), option) for day in days]
    return availability_cache.days(firestore_client(), entries, fetch, _map_days)


def _map_days(work: Callable[[int], T], items: Sequence[int]) -> list[T]:
    # Each worker runs in a copy of this context, so its Keyloop calls are logged with ours.
    futures: list[Future[T]] = [
        _executor().submit(contextvars.copy_context().run, work, item) for item in items[1:]
    ]
    first = [work(items[0])] if items else []
    return [*first, *(f.result() for f in futures)]


def _executor() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 (one bounded pool per process, built on first use)
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(_POOL_SIZE, thread_name_prefix="keyloop-day")
    return _pool
