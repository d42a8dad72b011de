"""The DMS sync's coverage figures (issue 21): Keyloop reads per run and per day when every
future booking is followed, for a number of future bookings spread evenly over the 180 days
ViSN books ahead.

For each size: a fresh Firestore and sandbox; the bookings made in the sandbox through its
API, each with a BOOKED enquiry; one run by hand (every booking read once, as after a deploy);
then a simulated day of scheduled runs (every 10 minutes, the clock moved on between runs,
run by run as `syncDmsBookings` does), counting the repair-order reads the sandbox received.
The sandbox's latency is set to 0 meanwhile: these figures are counts, not times.

That day is the first after every booking was read at once, so every daily-class booking is
due in the same run at 24 h: the bound reads 250 of them and carries the rest (its
`leftForNextRunMax`), which makes the measured day lower than a steady day.
`steadyReadsPerDay` is the steady figure from the classes: the sum over the bookings of
24 h / their interval.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from .stack import ENTERPRISE_ID, PROJECT, STORE_ID, Stack

SERVICE = "3f0c6a52-6f7e-4d4b-9b1e-0a0000000001"
BOOKS_AHEAD_DAYS = 180
RUN_EVERY = timedelta(minutes=10)


def measure(stack: Stack, sizes: tuple[int, ...], latency_ms: float) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    stack.post("latency", {"ms": 0})
    try:
        for size in sizes:
            figures.update(_one_size(stack, size))
    finally:
        stack.post("latency", {"ms": latency_ms})
    return figures


def _one_size(stack: Stack, size: int) -> dict[str, Any]:
    from google.cloud import firestore

    from visn.sync.polling import MAX_READS_PER_RUN, SyncSettings, interval_for, sync

    stack.emulator.wipe()
    stack.seed_suppliers()
    stack.reset_sandbox()
    db = firestore.Client(project=PROJECT)
    began = time.perf_counter()
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    slots = _book_spread(stack, db, size, start)
    steady = sum(timedelta(days=1) / interval_for(slot, start) for slot in slots)
    with _clock(start) as move_to:
        first = sync(SyncSettings(max_reads=None, force=True))  # by hand: every booking once
        before = stack.upstream_counts()["repairOrder"]
        per_run: list[int] = []
        left: list[int] = []
        sweeps = 0
        for run in range(1, int(timedelta(days=1) / RUN_EVERY) + 1):
            move_to(start + run * RUN_EVERY)
            report = sync()
            per_run.append(report.keyloop_reads)
            left.append(report.left_for_next_run)
            sweeps += report.full_sweep
        day = stack.upstream_counts()["repairOrder"] - before
    db.close()  # type: ignore[no-untyped-call]
    key = f"coverage({size} future bookings over {BOOKS_AHEAD_DAYS} days)"
    return {
        f"{key}.byHandRun.repairOrderReads": first.keyloop_reads,
        f"{key}.scheduledRun.repairOrderReadsMean": round(sum(per_run) / len(per_run), 1),
        f"{key}.scheduledRun.repairOrderReadsMax": max(per_run),
        f"{key}.scheduledRun.bound": MAX_READS_PER_RUN,
        f"{key}.scheduledRun.leftForNextRunMax": max(left),
        f"{key}.firstDay.repairOrderReads": day,
        f"{key}.firstDay.readsPerBooking": round(day / size, 2),
        f"{key}.steadyReadsPerDay": round(steady),
        f"{key}.steadyReadsPerBookingPerDay": round(steady / size, 2),
        f"{key}.fullSweepsInTheDay": sweeps,
        f"{key}.seconds": round(time.perf_counter() - began, 1),
    }


@contextmanager
def _clock(at: datetime) -> Iterator[Any]:
    from visn.infra import clock

    now = [at]
    real = clock.now
    clock.now = lambda: now[0]

    def move_to(when: datetime) -> None:
        now[0] = when

    try:
        yield move_to
    finally:
        clock.now = real


def _book_spread(stack: Stack, db: Any, count: int, start: datetime) -> list[datetime]:
    """`count` appointments from tomorrow to 180 days out, evenly, none on a Sunday; their
    slots."""
    from keyloop import KeyloopClient, KeyloopSettings, NewAppointment, StaticCredentials, Store

    env = stack.environment()
    client = KeyloopClient(
        KeyloopSettings(env["KEYLOOP_BASE_URL"]),
        StaticCredentials(env["KEYLOOP_CLIENT_ID"], env["KEYLOOP_CLIENT_SECRET"]),
    )
    store = Store(ENTERPRISE_ID, STORE_ID)
    batch = db.batch()
    slots: list[datetime] = []
    try:
        for index in range(count):
            day = start.date() + timedelta(days=1 + index * (BOOKS_AHEAD_DAYS - 1) // count)
            if day.weekday() == 6:
                day += timedelta(days=1)
            slot = datetime(day.year, day.month, day.day, 9 + index % 7, tzinfo=UTC)
            slots.append(slot)
            appointment = client.create_appointment(
                store,
                NewAppointment(
                    external_reference=f"cover-{index}",
                    due_in=slot,
                    service_product_ids=(SERVICE,),
                    given_name="A",
                    family_name="B",
                    license_plate="AB12CDE",
                ),
            )
            batch.set(
                db.collection("enquiries").document(f"cover-{index:05d}"),
                {
                    "customerId": "cust-a",
                    "supplierId": "keyloop-leeds",
                    "status": "BOOKED",
                    "slot": {"start": slot.isoformat(), "end": None},
                    "dms": {
                        "provider": "KEYLOOP",
                        "appointmentId": appointment.appointment_id,
                        "enterpriseId": ENTERPRISE_ID,
                        "storeId": STORE_ID,
                        "localTimeZone": None,
                    },
                    "history": [],
                    "updatedAt": start,
                },
            )
            if index % 400 == 399:
                batch.commit()
                batch = db.batch()
        batch.commit()
    finally:
        client.close()
    return slots
