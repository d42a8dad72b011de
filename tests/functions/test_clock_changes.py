"""Stores that write local wall-clock time (`localTimes`) on the days the clocks change, last
Sunday of October and of March 2027, London and Dublin: through the callables, the sandbox
over sockets and the Firestore emulator. A 25-hour day offers both 01:xx hours and each of
their slots books and reads back as the same instant (no MOVED_IN_DMS, by event or by the
sync); a 23-hour day offers nothing in the hour it skips."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from devtools.seed import IE_SUPPLIER, UK_SUPPLIER
from tests.functions.events_endpoint import EventsEndpoint
from tests.functions.harness import Harness
from tests.functions.test_create_booking import booking
from tests.functions.test_keyloop_events import answered, enquiry
from visn.records import suppliers
from visn.sync.polling import SyncSettings, sync

STORES = {UK_SUPPLIER: ("ENT-1001", "STORE-01"), IE_SUPPLIER: ("ENT-2002", "STORE-07")}
ZONES = {UK_SUPPLIER: "Europe/London", IE_SUPPLIER: "Europe/Dublin"}
SUPPLIERS = pytest.mark.parametrize("supplier", [UK_SUPPLIER, IE_SUPPLIER])

AUTUMN = "2027-10-31"  # 02:00 summer time becomes 01:00 winter time: 01:xx twice
AUTUMN_STARTS = [
    "2027-10-31T00:00:00+01:00",
    "2027-10-31T00:30:00+01:00",
    "2027-10-31T01:00:00+01:00",
    "2027-10-31T01:30:00+01:00",
    "2027-10-31T01:00:00+00:00",
    "2027-10-31T01:30:00+00:00",
    "2027-10-31T02:00:00+00:00",
    "2027-10-31T02:30:00+00:00",
    "2027-10-31T03:00:00+00:00",
    "2027-10-31T03:30:00+00:00",
]
REPEATED = AUTUMN_STARTS[2:6]
SPRING = "2027-03-28"  # 01:00 winter time becomes 02:00 summer time: no 01:xx
SPRING_STARTS = [
    "2027-03-28T00:00:00+00:00",
    "2027-03-28T00:30:00+00:00",
    "2027-03-28T02:00:00+01:00",
    "2027-03-28T02:30:00+01:00",
    "2027-03-28T03:00:00+01:00",
    "2027-03-28T03:30:00+01:00",
]


def night_store(harness: Harness, supplier: str, monkeypatch: pytest.MonkeyPatch, day: str) -> None:
    """The supplier's store open 00:00-04:00 every day in 30-minute slots, writing local time;
    our clock a few days before `day`."""
    enterprise_id, store_id = STORES[supplier]
    harness.http.put(
        f"{harness.sandbox.url}/_sandbox/stores/{enterprise_id}/{store_id}",
        json={
            "timezone": ZONES[supplier],
            "open": "00:00",
            "close": "04:00",
            "weekdays": list(range(7)),
            "slotMinutes": 30,
            "capacity": 1,
            "localTimes": True,
        },
        timeout=5,
    ).raise_for_status()
    harness.db.collection("suppliers").document(supplier).update(
        {"liveDiaryProvider.localTimes": True}
    )
    suppliers.suppliers.clear()
    now = datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC).replace(day=20)
    monkeypatch.setattr("visn.infra.clock.now", lambda: now)


def offered(harness: Harness, supplier: str, day: str) -> list[dict[str, Any]]:
    outcome = harness.call(
        "getAvailability", {"supplierId": supplier, "date": day, "serviceTypes": ["SERVICE"]}
    )
    (found,) = outcome.result["days"]
    assert "unavailable" not in found
    return list(found["slots"])


@SUPPLIERS
def test_a_25_hour_day_offers_both_repeated_hours(
    harness: Harness, supplier: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    night_store(harness, supplier, monkeypatch, AUTUMN)
    slots = offered(harness, supplier, AUTUMN)
    assert [s["start"] for s in slots] == AUTUMN_STARTS
    labels = ["00:00", "00:30", "01:00", "01:30", "01:00", "01:30", "02:00", "02:30", "03:00"]
    assert [s["label"] for s in slots] == [*labels, "03:30"]
    assert slots[3]["end"] == slots[4]["start"]  # back to back across the change


@SUPPLIERS
def test_a_23_hour_day_offers_nothing_in_the_skipped_hour(
    harness: Harness, supplier: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    night_store(harness, supplier, monkeypatch, SPRING)
    slots = offered(harness, supplier, SPRING)
    assert [s["start"] for s in slots] == SPRING_STARTS
    assert not [s for s in slots if s["label"].startswith("01:")]
    assert slots[1]["end"] == slots[2]["start"]  # 01:00 winter time is 02:00 summer time


@SUPPLIERS
def test_every_slot_of_the_repeated_hour_books_and_reads_back_the_same_instant(
    harness: Harness, events: EventsEndpoint, supplier: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    night_store(harness, supplier, monkeypatch, AUTUMN)
    made = []
    for n, start in enumerate(REPEATED):
        data = booking(f"key-clock-change-{n:04d}", supplierId=supplier, slot={"start": start})
        data["serviceTypes"] = ["SERVICE"]
        outcome = harness.call("createBooking", data)
        assert outcome.ok, outcome.error
        assert outcome.result["slot"]["start"] == start
        made.append(outcome.result)
    # Four appointments at four instants, each written with its real offset (capacity 1).
    assert sorted(a["dueInDateTime"] for a in harness.appointments("BOOKED")) == [
        "2027-10-31T01:00:00.000+00:00",
        "2027-10-31T01:00:00.000+01:00",
        "2027-10-31T01:30:00.000+00:00",
        "2027-10-31T01:30:00.000+01:00",
    ]
    answered(harness, 4)  # each create seen back by its event: the same instant, no change
    left = [s["start"] for s in offered(harness, supplier, AUTUMN)]
    assert left == [s for s in AUTUMN_STARTS if s not in REPEATED]

    report = sync(SyncSettings(force=True, max_reads=500))
    assert (report.looked, report.outcomes, report.changed) == (4, {"UNCHANGED": 4}, [])
    for created, start in zip(made, REPEATED, strict=True):
        after = enquiry(harness, created["enquiryId"])
        assert after["slot"]["start"] == start
        assert [h["action"] for h in after["history"]] == ["BOOKED"]
