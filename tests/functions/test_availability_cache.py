"""The shared availability cache, through the real callables, Firestore emulator and sandbox.

The sandbox's Leeds store is set to one place per slot, so a booked slot is gone from
Keyloop's answer: what a view shows after a change says whether the cache was invalidated.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from devtools.seed import SERVICE_PRODUCTS, UK_SUPPLIER
from keyloop import NewAppointment, Slot
from tests.functions.conftest import FROZEN_NOW
from tests.functions.events_endpoint import EventsEndpoint
from tests.functions.harness import ALICE, BOB, Harness
from tests.functions.test_cancel_rearrange import rearrange
from tests.functions.test_create_booking import booking
from tests.functions.test_keyloop_events import answered, dealer
from visn.availability import cache as availability_cache
from visn.availability.lookup import fetch_days
from visn.infra import clients
from visn.infra.clients import keyloop_client
from visn.records.namespace import AVAILABILITY_CACHE
from visn.records.suppliers import live_supplier
from visn.sync.polling import SyncSettings, sync

DAY = "2027-01-12"  # Tuesday, GMT
OTHER_DAY = "2027-01-13"
TEN = f"{DAY}T10:00:00+00:00"
FOURTEEN = f"{OTHER_DAY}T14:00:00+00:00"


@pytest.fixture(autouse=True)
def one_place_per_slot(harness: Harness) -> None:
    response = harness.http.put(
        f"{harness.sandbox.url}/_sandbox/stores/ENT-1001/STORE-01", json={"capacity": 1}, timeout=5
    )
    response.raise_for_status()


def starts(harness: Harness, day: str = DAY, user: Any = ALICE) -> list[str]:
    request = {"supplierId": UK_SUPPLIER, "date": day, "serviceTypes": ["SERVICE", "MOT"]}
    (shown,) = harness.call("getAvailability", request, user=user).result["days"]
    return [slot["start"] for slot in shown["slots"]]


def keyloop_views(harness: Harness) -> int:
    return harness.upstream_counts().get("availability", 0)


def pin(monkeypatch: pytest.MonkeyPatch, delta: timedelta) -> None:
    monkeypatch.setattr("visn.infra.clock.now", lambda: FROZEN_NOW + delta)


# -- a view answered from the cache ------------------------------------------------------------


def test_a_second_view_by_anyone_is_answered_without_keyloop(harness: Harness) -> None:
    first = starts(harness)
    assert TEN in first
    assert keyloop_views(harness) == 1
    assert starts(harness, user=BOB) == first, "shared by every user and instance"
    assert keyloop_views(harness) == 1
    # Another service set is another Keyloop question.
    other = {"supplierId": UK_SUPPLIER, "date": DAY, "serviceTypes": ["SERVICE"]}
    assert harness.call("getAvailability", other).ok
    assert keyloop_views(harness) == 2
    # The same set in another order is the same question.
    same = {"supplierId": UK_SUPPLIER, "date": DAY, "serviceTypes": ["MOT", "SERVICE"]}
    assert harness.call("getAvailability", same).ok
    assert keyloop_views(harness) == 2


def test_an_entry_past_its_age_is_refreshed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    starts(harness)
    pin(monkeypatch, timedelta(seconds=59))
    starts(harness)
    assert keyloop_views(harness) == 1, "fresh for 60 s"
    pin(monkeypatch, timedelta(seconds=60))
    starts(harness)
    assert keyloop_views(harness) == 2, "refreshed at 60 s"
    starts(harness)
    assert keyloop_views(harness) == 2, "and fresh again"


def test_a_keyloop_failure_is_never_cached_as_no_slots(harness: Harness) -> None:
    harness.fault("availability", status=400, count=1)  # one day fails, not retried
    request = {"supplierId": UK_SUPPLIER, "date": DAY, "days": 2, "serviceTypes": ["SERVICE"]}
    failed = harness.call("getAvailability", request).result["days"]
    assert [d.get("unavailable", False) for d in failed].count(True) == 1
    again = harness.call("getAvailability", request).result["days"]
    assert all(d["slots"] and not d.get("unavailable") for d in again)
    assert keyloop_views(harness) == 3, "the failed day was asked again, the other was not"


# -- our own changes: gone from the very next answer ------------------------------------------


def test_our_create_is_gone_from_the_next_view(harness: Harness) -> None:
    assert TEN in starts(harness)
    created = harness.call("createBooking", booking(slot={"start": TEN}))
    assert created.ok
    assert TEN not in starts(harness)
    assert keyloop_views(harness) == 2
    cached = harness.docs(AVAILABILITY_CACHE)
    assert [d["date"] for d in cached.values()] == [DAY]
    assert next(iter(cached.values()))["generation"] == 1


def test_our_rearrange_frees_the_old_slot_and_takes_the_new(harness: Harness) -> None:
    created = harness.call("createBooking", booking(slot={"start": TEN})).result
    assert TEN not in starts(harness)
    assert FOURTEEN in starts(harness, OTHER_DAY)
    moved = harness.call("rearrangeBooking", rearrange(created["enquiryId"]))
    assert moved.ok, moved.error
    assert TEN in starts(harness), "the old slot is free again"
    assert FOURTEEN not in starts(harness, OTHER_DAY), "the new one is taken"


def test_our_cancel_frees_the_slot(harness: Harness) -> None:
    created = harness.call("createBooking", booking(slot={"start": TEN})).result
    assert TEN not in starts(harness)
    cancelled = harness.call("cancelBooking", {"enquiryId": created["enquiryId"]})
    assert cancelled.result["status"] == "CANCELLED"
    assert TEN in starts(harness)


def test_a_slot_found_taken_at_create_drops_the_day(harness: Harness) -> None:
    assert TEN in starts(harness)
    # Taken through another channel, straight in the DMS: nothing of ours knows, so the cache
    # still shows it free, and the create is the truth.
    _, store = live_supplier(UK_SUPPLIER)
    keyloop_client().create_appointment(
        store,
        NewAppointment(
            external_reference="walk-in",
            due_in=datetime.fromisoformat(TEN),
            service_product_ids=(SERVICE_PRODUCTS["SERVICE"],),
            given_name="Walk",
            family_name="In",
            license_plate="XY99ZZZ",
        ),
    )
    assert TEN in starts(harness), "the cache shows the slot free"
    assert keyloop_views(harness) == 1
    refused = harness.call("createBooking", booking(slot={"start": TEN}))
    assert refused.reason == "SLOT_UNAVAILABLE"
    assert TEN not in starts(harness), "the next view asks Keyloop again"
    assert keyloop_views(harness) == 2


# -- a dealer's change, seen by the DMS sync --------------------------------------------------


def test_a_dealer_move_seen_by_an_event_invalidates(
    harness: Harness, events: EventsEndpoint
) -> None:
    created = harness.call("createBooking", booking(slot={"start": TEN})).result
    answered(harness, 1)
    assert TEN not in starts(harness)
    assert FOURTEEN in starts(harness, OTHER_DAY)
    dealer(harness, created["appointmentId"], "move", {"dueInDateTime": FOURTEEN})
    answered(harness, 2)
    assert TEN in starts(harness)
    assert FOURTEEN not in starts(harness, OTHER_DAY)


def test_a_dealer_cancel_seen_by_the_polling_sync_invalidates(harness: Harness) -> None:
    created = harness.call("createBooking", booking(slot={"start": TEN})).result
    assert TEN not in starts(harness)
    dealer(harness, created["appointmentId"], "cancel")
    assert TEN not in starts(harness), "not known yet: the cache still answers"
    report = sync(SyncSettings(force=True))
    assert report.outcomes == {"CANCELLED": 1}
    assert TEN in starts(harness)


# -- one refresh at a time --------------------------------------------------------------------


def _at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * count
    gate = threading.Barrier(count)

    def run(i: int) -> None:
        gate.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_twenty_concurrent_cold_views_make_one_keyloop_call(harness: Harness) -> None:
    harness.sandbox_post("latency", {"ms": 300})  # every caller arrives while it is asked
    shown = _at_once(20, lambda i: starts(harness, user=ALICE if i % 2 else BOB))
    assert keyloop_views(harness) == 1
    assert all(s == shown[0] and TEN in s for s in shown)


def test_instances_share_one_refresh_through_the_lease(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four instances (each its own in-process coalescing) of five callers each."""
    harness.sandbox_post("latency", {"ms": 300})
    _, store = live_supplier(UK_SUPPLIER)
    products = [SERVICE_PRODUCTS["SERVICE"]]
    instances = [availability_cache._Flights() for _ in range(4)]
    local = threading.local()
    monkeypatch.setattr(
        availability_cache, "_flights", _PerThread(local, instances)
    )  # which instance a thread is in

    def view(i: int) -> Any:
        local.instance = i % 4
        return fetch_days(store, [DAY_DATE], products, None)

    keyloop_client()  # built once, before the threads
    outcomes = _at_once(20, view)
    assert keyloop_views(harness) == 1
    assert all(isinstance(o[0], list) and o[0] == outcomes[0][0] for o in outcomes)


class _PerThread:
    def __init__(self, local: threading.local, instances: list[Any]) -> None:
        self._local = local
        self._instances = instances

    def join(self, flight: str, run: Callable[[], Any]) -> Any:
        return self._instances[self._local.instance].join(flight, run)


DAY_DATE = FROZEN_NOW.date() + timedelta(days=8)  # 2027-01-12


def test_a_fetch_that_raced_a_change_is_never_served(harness: Harness) -> None:
    """A booking recorded while Keyloop was being asked: the answer (from before it) is
    returned to that one caller, but not served from the cache afterwards."""
    _, store = live_supplier(UK_SUPPLIER)
    entry = availability_cache.Entry(store, DAY_DATE, ("P1",), None)
    client = harness.db
    before = [Slot(datetime.fromisoformat(TEN))]

    def racing(day: Any) -> list[Slot]:
        availability_cache.invalidate_now(client, store, [day])  # our booking is recorded
        return before

    def in_turn(work: Callable[[int], Any], items: Any) -> list[Any]:
        return [work(i) for i in items]

    assert availability_cache.days(client, [entry], racing, in_turn) == [before]
    after = [Slot(datetime.fromisoformat(FOURTEEN))]
    assert availability_cache.days(client, [entry], lambda day: after, in_turn) == [after]
    assert availability_cache.days(client, [entry], racing, in_turn) == [after], "now cached"


def test_turned_off_every_view_asks_keyloop(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AVAILABILITY_CACHE_SECONDS", "0")
    starts(harness)
    starts(harness)
    assert keyloop_views(harness) == 2
    assert harness.docs(AVAILABILITY_CACHE) == {}


def test_firestore_unreachable_views_come_from_keyloop(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = starts(harness)  # the supplier is now in this process's supplier cache
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{_dead_port()}")
    monkeypatch.setenv("FIRESTORE_TIMEOUT_MS", "300")
    clients.reset()
    assert starts(harness) == first
    assert keyloop_views(harness) == 2


def _dead_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_view_after_our_booking_never_joins_a_fetch_from_before_it(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20, finding 4. View 1 asks Keyloop under generation G and is held inside the
    Keyloop call (its answer, from before the booking, shows 10:00 free); createBooking
    commits G+1 and answers; view 2 on the same instance reads G+1 and misses. It must not
    take view 1's answer: it asks under its own generation and shows 10:00 taken."""
    from keyloop import KeyloopClient

    real = KeyloopClient.availability
    asked = threading.Event()
    release = threading.Event()
    calls: list[int] = []

    def gated(self: KeyloopClient, *args: Any, **kwargs: Any) -> list[Slot]:
        calls.append(1)
        answer = real(self, *args, **kwargs)
        if len(calls) == 1:  # view 1 only: Keyloop has answered, the answer is held
            asked.set()
            assert release.wait(30), "view 1 never released"
        return answer

    monkeypatch.setattr(KeyloopClient, "availability", gated)
    views: dict[str, list[str]] = {}
    first = threading.Thread(target=lambda: views.update(first=starts(harness)))
    first.start()
    try:
        assert asked.wait(30), "view 1 never asked Keyloop"
        assert harness.call("createBooking", booking(slot={"start": TEN})).ok
        second = threading.Thread(target=lambda: views.update(second=starts(harness, user=BOB)))
        second.start()
        # View 2 has no reason to wait for view 1: with the fix it answers on its own. If it
        # joined view 1's fetch it waits until view 1 is released, and then shows its answer.
        second.join(timeout=10)
    finally:
        release.set()
        first.join(timeout=30)
    second.join(timeout=30)
    assert TEN in views["first"], "view 1's answer is from before the booking"
    assert TEN not in views["second"], "view 2 began after the booking answered"
    assert TEN not in starts(harness), "and the cache never serves view 1's answer"
