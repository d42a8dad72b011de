"""getAvailability through the real callable wrapper, Firestore emulator and Keyloop sandbox."""

from __future__ import annotations

from typing import Any

from devtools.seed import IE_SUPPLIER, NO_DIARY_SUPPLIER, UK_SUPPLIER
from tests.functions.harness import Harness

WINTER_DAY = "2027-01-12"  # Tuesday, GMT
SUMMER_DAY = "2027-04-13"  # Tuesday, BST


def ask(harness: Harness, **overrides: Any) -> Any:
    data = {"supplierId": UK_SUPPLIER, "date": WINTER_DAY, "serviceTypes": ["SERVICE"]}
    data.update(overrides)
    return harness.call("getAvailability", data)


def test_winter_day_slots_in_gmt(harness: Harness) -> None:
    outcome = ask(harness)
    result = outcome.result
    assert result["supplierId"] == UK_SUPPLIER
    assert result["timezone"] == "Europe/London"
    (day,) = result["days"]
    assert day["date"] == WINTER_DAY
    assert "unavailable" not in day
    slots = day["slots"]
    assert slots[0] == {
        "start": "2027-01-12T08:00:00+00:00",
        "end": "2027-01-12T09:00:00+00:00",
        "label": "08:00",
    }
    assert [s["label"] for s in slots] == [f"{h:02d}:00" for h in range(8, 17)]
    assert harness.upstream_counts()["availability"] == 1


def test_summer_day_slots_carry_bst_offset(harness: Harness) -> None:
    (day,) = ask(harness, date=SUMMER_DAY).result["days"]
    assert day["slots"][0]["start"] == "2027-04-13T08:00:00+01:00"
    assert day["slots"][0]["label"] == "08:00"


def test_local_times_supplier(harness: Harness) -> None:
    # The Dublin store's DMS writes wall-clock time with a literal Z; 07:30 there is 07:30 IST.
    (day,) = ask(harness, supplierId=IE_SUPPLIER, date=SUMMER_DAY).result["days"]
    assert day["slots"][0] == {
        "start": "2027-04-13T07:30:00+01:00",
        "end": "2027-04-13T08:00:00+01:00",
        "label": "07:30",
    }
    (winter,) = ask(harness, supplierId=IE_SUPPLIER).result["days"]
    assert winter["slots"][0]["start"] == "2027-01-12T07:30:00+00:00"


def test_several_days_in_order_with_a_failed_day(harness: Harness) -> None:
    harness.fault("availability", status=400, count=1)  # one day fails, not retried
    days = ask(harness, days=3).result["days"]
    assert [d["date"] for d in days] == ["2027-01-12", "2027-01-13", "2027-01-14"]
    failed = [d for d in days if d.get("unavailable")]
    assert len(failed) == 1
    assert failed[0]["slots"] == []
    assert all(d["slots"] for d in days if not d.get("unavailable"))
    assert harness.upstream_counts()["availability"] == 3


def test_every_day_failing_fails_the_call(harness: Harness) -> None:
    harness.fault("availability", status=503, count=20)
    outcome = ask(harness, days=2)
    assert outcome.status == "UNAVAILABLE"
    assert outcome.reason == "DMS_UNAVAILABLE"


def test_closed_day_and_past_slots(harness: Harness) -> None:
    # 2027-01-10 is a Sunday: closed. The frozen clock is 2027-01-04 09:00Z: today's 08:00 and
    # 09:00 slots have begun, so they are not offered.
    days = ask(harness, date="2027-01-04", days=7).result["days"]
    assert days[0]["slots"][0]["label"] == "10:00"
    sunday = next(d for d in days if d["date"] == "2027-01-10")
    assert sunday["slots"] == []


def test_full_slots_are_not_offered(harness: Harness) -> None:
    booked = {"start": "2027-01-12T10:00:00+00:00"}
    for key in ("fill-slot-key-0001", "fill-slot-key-0002"):  # capacity 2
        create = harness.call("createBooking", booking(key, booked))
        assert create.ok, create.body
    labels = [s["label"] for s in ask(harness).result["days"][0]["slots"]]
    assert "10:00" not in labels
    assert "11:00" in labels


def test_reasons(harness: Harness) -> None:
    assert ask(harness, supplierId="nobody").reason == "SUPPLIER_NOT_FOUND"
    assert ask(harness, supplierId="nobody").status == "NOT_FOUND"
    no_diary = ask(harness, supplierId=NO_DIARY_SUPPLIER)
    assert (no_diary.status, no_diary.reason) == ("FAILED_PRECONDITION", "NO_LIVE_DIARY")
    unknown = ask(harness, supplierId=IE_SUPPLIER, serviceTypes=["SERVICE", "GLASS"])
    assert (unknown.status, unknown.reason) == ("INVALID_ARGUMENT", "UNKNOWN_SERVICE_TYPE")
    assert unknown.fields == [
        {"path": "serviceTypes.1", "message": "is not offered by this supplier"}
    ]
    past = ask(harness, date="2027-01-03")
    assert (past.reason, past.fields[0]["path"]) == ("VALIDATION", "date")
    far = ask(harness, date="2027-07-06")
    assert (far.reason, far.fields[0]["path"]) == ("VALIDATION", "date")
    assert harness.upstream_counts()["availability"] == 0


def booking(key: str, slot: dict[str, str], supplier: str = UK_SUPPLIER) -> dict[str, Any]:
    return {
        "idempotencyKey": key,
        "supplierId": supplier,
        "serviceTypes": ["SERVICE"],
        "slot": slot,
        "vehicle": {"registration": "ab12 cde"},
        "contact": {"givenName": "Ada", "familyName": "Lovelace", "email": "ada@example.com"},
    }
