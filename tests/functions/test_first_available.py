"""findFirstAvailable through the real callable wrapper, Firestore emulator and sandbox."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from devtools.seed import UK_SUPPLIER
from tests.functions.conftest import FROZEN_NOW
from tests.functions.harness import Harness, Outcome
from tests.functions.test_quotas import assert_rate_limited
from visn.availability.first_available import BATCH_DAYS

TODAY = FROZEN_NOW.date()  # Monday 2027-01-04, 09:00 in London


def close_days(harness: Harness, count: int) -> date:
    """The Leeds store closed for `count` days from today; returns the first open day."""
    closed = [(TODAY + timedelta(days=i)).isoformat() for i in range(count)]
    response = harness.http.put(
        f"{harness.sandbox.url}/_sandbox/stores/ENT-1001/STORE-01",
        json={"closedDates": closed},
        timeout=5,
    )
    response.raise_for_status()
    return TODAY + timedelta(days=count)


def find(harness: Harness, **overrides: Any) -> Outcome:
    request = {"supplierId": UK_SUPPLIER, "serviceTypes": ["SERVICE"], **overrides}
    return harness.call("findFirstAvailable", request)


def keyloop_views(harness: Harness) -> int:
    return harness.upstream_counts().get("availability", 0)


def test_finds_a_slot_forty_days_out_and_stops_there(harness: Harness) -> None:
    first_open = close_days(harness, 40)  # a Saturday: Leeds opens Monday to Saturday
    result = find(harness, withinDays=60, count=5).result
    assert [s["date"] for s in result["slots"]] == [first_open.isoformat()] * 5
    assert [s["label"] for s in result["slots"]] == ["08:00", "09:00", "10:00", "11:00", "12:00"]
    assert result["slots"][0]["start"] == f"{first_open.isoformat()}T08:00:00+00:00"
    # Whole batches up to the one that holds the slots, and not a day more.
    searched = -(-41 // BATCH_DAYS) * BATCH_DAYS
    assert result["daysSearched"] == searched < 60
    assert result["searchedFrom"] == TODAY.isoformat()
    assert result["searchedTo"] == (TODAY + timedelta(days=searched - 1)).isoformat()
    assert result["unavailableDays"] == []
    assert keyloop_views(harness) == searched
    # The days it read are in the shared cache: asked again, Keyloop is not.
    assert find(harness, withinDays=60, count=5).result == result
    assert keyloop_views(harness) == searched


def test_today_offers_only_slots_that_have_not_begun(harness: Harness) -> None:
    result = find(harness, count=3).result
    assert [s["label"] for s in result["slots"]] == ["10:00", "11:00", "12:00"]
    assert {s["date"] for s in result["slots"]} == {TODAY.isoformat()}
    assert result["daysSearched"] == BATCH_DAYS


def test_nothing_free_answers_no_slots_with_the_days_searched(harness: Harness) -> None:
    close_days(harness, 60)
    result = find(harness, withinDays=30).result
    assert result["slots"] == []
    assert (result["searchedFrom"], result["searchedTo"], result["daysSearched"]) == (
        TODAY.isoformat(),
        (TODAY + timedelta(days=29)).isoformat(),
        30,
    )
    assert keyloop_views(harness) == 30


def test_from_a_later_day_and_from_the_past(harness: Harness) -> None:
    later = find(harness, **{"from": "2027-01-12"}, count=1).result
    assert later["slots"][0]["start"] == "2027-01-12T08:00:00+00:00"
    past = find(harness, **{"from": "2026-12-30"}, count=1).result
    assert past["searchedFrom"] == TODAY.isoformat(), "the past searches from today"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"withinDays": 91}, "withinDays"),
        ({"withinDays": 0}, "withinDays"),
        ({"count": 21}, "count"),
        ({"from": "2027-07-04"}, "from"),  # past the 180-day horizon
        ({"from": "04/01/2027"}, "from"),
        ({"serviceTypes": ["GLASS", "GLASS"]}, "serviceTypes"),
    ],
)
def test_refused_requests_send_nothing_upstream(
    harness: Harness, overrides: dict[str, Any], field: str
) -> None:
    outcome = find(harness, **overrides)
    assert outcome.status == "INVALID_ARGUMENT"
    assert [f["path"] for f in outcome.fields] == [field]
    assert not any(harness.upstream_counts().values())


def test_within_the_availability_quota(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTA_AVAILABILITY_DAYS_PER_USER_PER_MINUTE", "20")
    close_days(harness, 40)
    assert_rate_limited(find(harness, withinDays=60), retry_after=60)
    assert keyloop_views(harness) == 2 * BATCH_DAYS, "no batch is asked past the quota"


def test_every_day_failing_fails_the_call(harness: Harness) -> None:
    harness.fault("availability", status=503, count=100)
    outcome = find(harness, withinDays=3)
    assert (outcome.status, outcome.reason) == ("UNAVAILABLE", "DMS_UNAVAILABLE")
