"""Quotas: refused with RESOURCE_EXHAUSTED / RATE_LIMITED / retryAfterSeconds before Keyloop.

The clock is pinned (conftest: 09:00:00 exactly), so the retry times are known and a window
passes by moving the pinned clock, never by sleeping.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from devtools.seed import UK_SUPPLIER
from tests.functions.conftest import FROZEN_NOW
from tests.functions.harness import ALICE, ALICE_COLLEAGUE, BOB, Harness, Outcome
from tests.functions.test_cancel_rearrange import rearrange
from tests.functions.test_create_booking import booking


def slot(hour: int, day: int = 12) -> dict[str, str]:
    return {"start": f"2027-01-{day:02d}T{hour:02d}:00:00+00:00"}


def create(harness: Harness, n: int, user: Any = ALICE) -> Outcome:
    key = f"key-quota-{user.uid}-{n:06d}"
    return harness.call("createBooking", booking(key, slot=slot(8 + n)), user=user)


def assert_rate_limited(outcome: Outcome, retry_after: int) -> None:
    assert outcome.http_status == 429
    assert outcome.status == "RESOURCE_EXHAUSTED"
    assert outcome.reason == "RATE_LIMITED"
    assert outcome.error["details"]["retryAfterSeconds"] == retry_after


def pin(monkeypatch: pytest.MonkeyPatch, delta: timedelta) -> None:
    monkeypatch.setattr("visn.infra.clock.now", lambda: FROZEN_NOW + delta)


def test_bookings_per_user_per_hour(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTA_BOOKINGS_PER_USER_PER_HOUR", "2")
    assert create(harness, 0).ok
    assert create(harness, 1).ok
    sent = harness.upstream_counts()

    pin(monkeypatch, timedelta(minutes=20))
    assert_rate_limited(create(harness, 2), retry_after=40 * 60)
    assert harness.upstream_counts() == sent, "nothing reached Keyloop"
    assert len(harness.appointments()) == 2

    # A replay of a booking already made is an answer, not a new booking: not refused.
    replay = harness.call("createBooking", booking("key-quota-user-alice-000000", slot=slot(8)))
    assert replay.ok

    # Another user of another customer has their own quota.
    assert create(harness, 3, user=BOB).ok

    pin(monkeypatch, timedelta(hours=1))  # the next clock hour
    assert create(harness, 2).ok


def test_bookings_per_customer_per_hour(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTA_BOOKINGS_PER_CUSTOMER_PER_HOUR", "2")
    assert create(harness, 0).ok
    assert create(harness, 1, user=ALICE_COLLEAGUE).ok
    sent = harness.upstream_counts()
    assert_rate_limited(create(harness, 2, user=ALICE_COLLEAGUE), retry_after=3600)
    assert_rate_limited(create(harness, 3), retry_after=3600)
    assert harness.upstream_counts() == sent
    assert create(harness, 4, user=BOB).ok, "customer B is not limited by customer A"


def test_rearrange_counts_as_a_booking(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTA_BOOKINGS_PER_USER_PER_HOUR", "1")
    created = create(harness, 0).result
    sent = harness.upstream_counts()
    assert_rate_limited(
        harness.call("rearrangeBooking", rearrange(created["enquiryId"])), retry_after=3600
    )
    assert harness.upstream_counts() == sent
    pin(monkeypatch, timedelta(hours=1, seconds=1))
    assert harness.call("rearrangeBooking", rearrange(created["enquiryId"])).ok


def test_availability_days_per_user_per_minute(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUOTA_AVAILABILITY_DAYS_PER_USER_PER_MINUTE", "20")

    def ask(days: int, user: Any = ALICE) -> Outcome:
        request = {
            "supplierId": UK_SUPPLIER,
            "date": "2027-01-12",
            "days": days,
            "serviceTypes": ["SERVICE"],
        }
        return harness.call("getAvailability", request, user=user)

    assert ask(14).ok  # a 14-day view counts 14
    pin(monkeypatch, timedelta(seconds=15))
    before = harness.upstream_counts()["availability"]
    assert_rate_limited(ask(7), retry_after=45)
    assert harness.upstream_counts()["availability"] == before, "no day was fetched"
    assert ask(6).ok, "what is left of the minute can still be used"
    assert ask(14, user=ALICE_COLLEAGUE).ok, "counted per user"
    pin(monkeypatch, timedelta(minutes=1))
    assert ask(14).ok


def _lose_first_counter_answer(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The first commit that writes a quota counter is applied, then its answer is lost as
    UNAVAILABLE: under the gRPC stub, so the Firestore client's own retry (if any) runs."""
    from google.api_core import exceptions as gexc
    from google.api_core import gapic_v1

    from visn.infra.clients import firestore_client
    from visn.records.namespace import RATE_LIMITS

    transport = firestore_client()._firestore_api._transport
    stub = transport.commit
    sent: list[int] = []

    def lossy(request: Any, **kwargs: Any) -> Any:
        answer = stub(request, **kwargs)
        if any(f"/{RATE_LIMITS}/" in w.update.name for w in request.writes):
            sent.append(1)
            if len(sent) == 1:
                raise gexc.ServiceUnavailable("injected: applied, answer lost")  # type: ignore[no-untyped-call]
        return answer

    wrapped = gapic_v1.method.wrap_method(lossy, default_timeout=None)  # type: ignore[no-untyped-call]
    monkeypatch.setitem(transport._wrapped_methods, stub, wrapped)
    return sent


def test_a_lost_counter_answer_is_not_counted_twice(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20, finding 7: the counters' batch is not retried, so a commit applied whose
    answer was lost counts its call once (the caller is told to try again), never twice."""
    from visn.records.namespace import RATE_LIMITS

    sent = _lose_first_counter_answer(monkeypatch)
    lost = create(harness, 0)
    assert lost.reason == "DATABASE_UNAVAILABLE", lost.body
    assert sent == [1], "the counters' commit was sent once"
    counts = sorted(doc["count"] for doc in harness.docs(RATE_LIMITS).values())
    assert counts == [1, 1], "user and customer each counted once"
    assert harness.appointments() == [], "nothing was booked"
    assert create(harness, 0).ok, "the caller's own retry books"
    counts = sorted(doc["count"] for doc in harness.docs(RATE_LIMITS).values())
    assert counts == [2, 2]


def test_cancels_per_user_per_hour(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20, finding 7: cancelBooking has a quota of its own, charged before any write."""
    monkeypatch.setenv("QUOTA_CANCELS_PER_USER_PER_HOUR", "1")
    first, second = create(harness, 0).result, create(harness, 1).result
    assert harness.call("cancelBooking", {"enquiryId": first["enquiryId"]}).ok
    sent = harness.upstream_counts()
    pin(monkeypatch, timedelta(minutes=10))
    assert_rate_limited(
        harness.call("cancelBooking", {"enquiryId": second["enquiryId"]}), retry_after=50 * 60
    )
    assert harness.upstream_counts() == sent, "nothing reached Keyloop"
    assert (harness.doc("enquiries", second["enquiryId"]) or {})["status"] == "BOOKED"
    assert harness.call("rearrangeBooking", rearrange(second["enquiryId"])).ok, (
        "bookings have their own quota"
    )
    pin(monkeypatch, timedelta(hours=1))
    done = harness.call("cancelBooking", {"enquiryId": second["enquiryId"]})
    assert done.result["status"] == "CANCELLED"


def test_a_cancelling_enquiry_asks_keyloop_once_per_spacing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20, finding 7: while Keyloop fails, calls on a CANCELLING enquiry within
    CANCEL_RETRY_SPACING of the last attempt are answered CANCELLING without a DELETE."""
    from visn.access.quotas import CANCEL_RETRY_SPACING

    created = create(harness, 0).result
    cancel = {"enquiryId": created["enquiryId"]}
    harness.fault("cancel", status=503, count=6)  # Keyloop fails two calls' tries
    assert harness.call("cancelBooking", cancel).result["status"] == "CANCELLING"
    assert harness.upstream_counts()["cancel"] == 3, "one call: the client's 3 tries"
    for seconds in (0, 10, CANCEL_RETRY_SPACING.total_seconds() - 1):
        pin(monkeypatch, timedelta(seconds=seconds))
        assert harness.call("cancelBooking", cancel).result["status"] == "CANCELLING"
    assert harness.upstream_counts()["cancel"] == 3, "no DELETE within the spacing"
    pin(monkeypatch, CANCEL_RETRY_SPACING)
    assert harness.call("cancelBooking", cancel).result["status"] == "CANCELLING"
    assert harness.upstream_counts()["cancel"] == 6, "asked again once the spacing is over"
    pin(monkeypatch, CANCEL_RETRY_SPACING + timedelta(seconds=1))
    assert harness.call("cancelBooking", cancel).result["status"] == "CANCELLING"
    assert harness.upstream_counts()["cancel"] == 6, "spaced from that attempt"
    pin(monkeypatch, CANCEL_RETRY_SPACING * 2)  # Keyloop is back
    assert harness.call("cancelBooking", cancel).result["status"] == "CANCELLED"
    assert harness.upstream_counts()["cancel"] == 7
