"""The polling safety net (`syncDmsBookings`, `python -m visn sync`) and the race between a
dealer's move and our own rearrange, against the Firestore emulator and the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devtools.seed import UK_SUPPLIER
from keyloop import KeyloopClient, KeyloopSettings, NewAppointment, StaticCredentials, Store
from keyloop.times import parse_time
from tests.functions.conftest import FROZEN_NOW
from tests.functions.events_endpoint import EventsEndpoint, wait_for
from tests.functions.harness import Harness
from tests.functions.test_cancel_rearrange import booked, rearrange
from tests.functions.test_create_booking import booking
from tests.functions.test_keyloop_events import answered, dealer, enquiry
from tests.saga.invariants import World, violations
from visn.sync.names import SYNC_CHECKS
from visn.sync.polling import SyncSettings, interval_for, sync
from visn.sync.schedule import STATE_ID, next_due

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "3f0c6a52-6f7e-4d4b-9b1e-0a0000000001"
STORE = Store("ENT-1001", "STORE-01")


def reads(harness: Harness) -> int:
    return harness.upstream_counts()["repairOrder"]


def test_a_dropped_event_is_caught_by_python_m_visn_sync(
    harness: Harness, events: EventsEndpoint
) -> None:
    created = booked(harness)
    answered(harness, 1)
    harness.sandbox_post("events", {"drop": 1})
    dealer(harness, created["appointmentId"], "move", {"dueInDateTime": "2027-01-12T15:00:00.000Z"})
    wait_for(lambda: harness.sandbox_get("events")["deliveries"][-1]["outcome"] == "dropped")
    assert enquiry(harness, created["enquiryId"])["slot"]["start"] == created["slot"]["start"]

    env = {
        "PATH": os.environ["PATH"],
        **{
            k: os.environ[k]
            for k in (
                "GCLOUD_PROJECT",
                "FIRESTORE_EMULATOR_HOST",
                "KEYLOOP_BASE_URL",
                "KEYLOOP_CLIENT_ID",
                "KEYLOOP_CLIENT_SECRET",
            )
        },
    }
    # Its own process runs on the real clock; by default it reads every future booking.
    done = subprocess.run(
        [sys.executable, "-m", "visn", "sync"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert (report["looked"], report["changed"], report["outcomes"]) == (1, 1, {"MOVED": 1})
    after = enquiry(harness, created["enquiryId"])
    assert after["slot"]["start"] == "2027-01-12T15:00:00+00:00"
    assert (after["history"][-1]["action"], after["history"][-1]["via"]) == ("MOVED_IN_DMS", "SYNC")
    for secret in ("sandbox-secret", *harness.sandbox.state.issued_tokens(), "Lovelace"):
        assert secret not in done.stdout + done.stderr


def test_intervals_are_shorter_closer_to_the_day_and_never_over_a_day() -> None:
    now = FROZEN_NOW
    assert interval_for(now + timedelta(hours=3), now) == timedelta(minutes=30)
    assert interval_for(now + timedelta(days=4), now) == timedelta(hours=2)
    assert interval_for(now + timedelta(days=12), now) == timedelta(hours=6)
    assert interval_for(now + timedelta(days=40), now) == timedelta(hours=12)
    assert interval_for(now + timedelta(days=400), now) == timedelta(hours=24)
    every = [interval_for(now + timedelta(hours=h), now) for h in range(1, 24 * 400)]
    assert min(every) == timedelta(minutes=30)
    assert max(every) == timedelta(hours=24)
    assert every == sorted(every)  # further ahead, never more often
    # The next look is due by the class the slot is in by then: 49 h ahead, looked at now, is
    # due in 30 minutes (then within 48 h), not in the 2 h of its class now.
    assert next_due(now + timedelta(hours=48, minutes=20), now) == now + timedelta(minutes=30)
    assert next_due(now + timedelta(days=61), now) == now + timedelta(hours=24)
    assert next_due(now + timedelta(days=60, hours=6), now) == now + timedelta(hours=12)


def _book_many(harness: Harness, count: int) -> list[tuple[datetime, str, str]]:
    """`count` appointments in the sandbox, each with a BOOKED enquiry written as createBooking
    writes it (a callable per booking would take minutes). Returns (start, enquiry, appt)."""
    harness.http.put(
        f"{harness.sandbox.url}/_sandbox/stores/ENT-1001/STORE-01", json={"capacity": 5}, timeout=5
    ).raise_for_status()
    client = KeyloopClient(
        KeyloopSettings(harness.sandbox.url), StaticCredentials("sandbox-client", "sandbox-secret")
    )
    made: list[tuple[datetime, str, str]] = []
    day = FROZEN_NOW.date() + timedelta(days=1)
    try:
        while len(made) < count:
            if day.weekday() != 6:
                for hour in range(8, 17):
                    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
                    for _ in range(5):
                        if len(made) == count:
                            break
                        appointment = client.create_appointment(
                            STORE,
                            NewAppointment(
                                external_reference=f"op-{len(made)}",
                                due_in=start,
                                service_product_ids=(SERVICE,),
                                given_name="A",
                                family_name="B",
                                license_plate="AB12CDE",
                            ),
                        )
                        made.append((start, f"enq-{len(made):04d}", appointment.appointment_id))
            day += timedelta(days=1)
    finally:
        client.close()
    batch = harness.db.batch()
    for index, (start, enquiry_id, appointment_id) in enumerate(made):
        batch.set(
            harness.db.collection("enquiries").document(enquiry_id),
            {
                "customerId": "cust-a",
                "supplierId": UK_SUPPLIER,
                "status": "BOOKED",
                "slot": {
                    "start": start.isoformat(),
                    "end": (start + timedelta(hours=1)).isoformat(),
                },
                "dms": {
                    "provider": "KEYLOOP",
                    "appointmentId": appointment_id,
                    "appointmentReference": None,
                    "enterpriseId": "ENT-1001",
                    "storeId": "STORE-01",
                    "localTimeZone": None,
                },
                "history": [],
            },
        )
        if index % 400 == 399:
            batch.commit()
            batch = harness.db.batch()
    batch.commit()
    return made


def test_the_sync_keeps_within_its_bound_with_500_booked_enquiries(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _book_many(harness, 500)
    horizon_end = FROZEN_NOW + timedelta(days=14)
    in_horizon = sorted((s, e) for s, e, _ in made if s <= horizon_end)
    assert len(in_horizon) > 300  # most of them: the bound is what limits the run
    before = harness.upstream_counts()

    first = sync(SyncSettings(max_reads=100))
    counts = harness.upstream_counts()
    assert counts["repairOrder"] - before["repairOrder"] == 100 == first.keyloop_reads
    assert counts["token"] - before["token"] <= 1
    assert first.full_sweep
    assert first.considered == len(made)
    assert first.left_for_next_run == len(made) - 100
    assert looked_at(harness) == {e for _, e in in_horizon[:100]}  # nearest first

    second = sync(SyncSettings(max_reads=100))  # same moment: the next 100, none again
    assert not second.full_sweep  # found by their records (due), not by reading every booking
    assert second.keyloop_reads == 100
    assert second.considered == len(made) - 100
    assert looked_at(harness) == {e for _, e in in_horizon[:200]}

    # 31 minutes on: those within 48 h are due again, the rest not yet.
    later = FROZEN_NOW + timedelta(minutes=31)
    monkeypatch.setattr("visn.infra.clock.now", lambda: later)
    third = sync(SyncSettings(max_reads=500))
    soon = [e for s, e in in_horizon[:200] if s - later <= timedelta(hours=48)]
    assert third.due == len(soon) + len(in_horizon) - 200
    assert third.keyloop_reads == third.due
    assert third.outcomes == {"UNCHANGED": third.due}

    by_hand = sync(SyncSettings(max_reads=None, force=True))
    assert by_hand.keyloop_reads == len(made) == by_hand.due


def looked_at(harness: Harness) -> set[str]:
    """The enquiries the sync has looked at (their records carry `checkedAt`)."""
    return {i for i, r in harness.docs(SYNC_CHECKS).items() if i != STATE_ID and "checkedAt" in r}


def test_a_booking_two_months_out_brought_forward_is_corrected_by_the_next_run_due_for_it(
    harness: Harness, events: EventsEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = harness.call(
        "createBooking", booking(slot={"start": "2027-03-08T09:00:00+00:00"})
    ).result  # 63 days out: looked at once a day
    answered(harness, 1)
    now = FROZEN_NOW
    first = sync()
    assert (first.looked, first.outcomes) == (1, {"UNCHANGED": 1})
    record = harness.doc(SYNC_CHECKS, created["enquiryId"])
    assert record is not None
    assert record["dueAt"] == now + timedelta(hours=24)

    # The dealer brings it forward to three days out; that event is dropped.
    harness.sandbox_post("events", {"drop": 1})
    dealer(harness, created["appointmentId"], "move", {"dueInDateTime": "2027-01-07T10:00:00.000Z"})
    wait_for(lambda: harness.sandbox_get("events")["deliveries"][-1]["outcome"] == "dropped")
    before = reads(harness)
    for minutes in range(10, 24 * 60, 10):  # every scheduled run of the day: not yet due
        monkeypatch.setattr("visn.infra.clock.now", lambda m=minutes: now + timedelta(minutes=m))
        assert sync().looked == 0, minutes
    assert reads(harness) == before  # not one Keyloop read meanwhile
    assert enquiry(harness, created["enquiryId"])["slot"]["start"] == created["slot"]["start"]

    due_run = now + timedelta(hours=24)
    monkeypatch.setattr("visn.infra.clock.now", lambda: due_run)
    report = sync()
    assert (report.looked, report.outcomes) == (1, {"MOVED": 1})
    after = enquiry(harness, created["enquiryId"])
    assert after["slot"]["start"] == "2027-01-07T10:00:00+00:00"
    assert (after["history"][-1]["action"], after["history"][-1]["via"]) == ("MOVED_IN_DMS", "SYNC")
    # Now 49 h ahead: next looked at in 2 h, the class it is in now.
    record = harness.doc(SYNC_CHECKS, created["enquiryId"])
    assert record is not None
    assert record["dueAt"] == due_run + timedelta(hours=2)


def test_every_future_booking_is_looked_at_within_a_day(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A day of scheduled runs over bookings from tomorrow to six months out: each is looked
    at, at least once a day, and as often as its class says."""
    made = _book_spread(harness, days=(1, 3, 10, 30, 93, 170))
    looks: dict[str, int] = dict.fromkeys((e for _, e, _ in made), 0)
    for run in range(0, 24 * 6 + 1):  # 24 h of runs, every 10 minutes, and the next
        at = FROZEN_NOW + timedelta(minutes=10 * run)
        monkeypatch.setattr("visn.infra.clock.now", lambda at=at: at)
        report = sync()
        for enquiry_id in looked_at_this_run(harness, at):
            looks[enquiry_id] += 1
        assert report.failed == 0
    by_days = {days: looks[e] for (days, e, _) in made}
    # Runs at 0 h to 24 h, both ends counted: 1 day ahead every 30 min (49 looks); 3 days
    # every 2 h (13); 10 days every 6 h (5); 30 days every 12 h (3); 93 and 170 days daily (2).
    assert by_days == {1: 49, 3: 13, 10: 5, 30: 3, 93: 2, 170: 2}, by_days


def looked_at_this_run(harness: Harness, at: datetime) -> set[str]:
    return {
        i
        for i, r in harness.docs(SYNC_CHECKS).items()
        if i != STATE_ID and r.get("checkedAt") == at
    }


def _book_spread(harness: Harness, days: tuple[int, ...]) -> list[tuple[int, str, str]]:
    """One booking `d` days out at 10:00 UTC for each d, straight into the sandbox and as
    createBooking writes the enquiry. Returns (days, enquiry id, appointment id)."""
    client = KeyloopClient(
        KeyloopSettings(harness.sandbox.url), StaticCredentials("sandbox-client", "sandbox-secret")
    )
    made: list[tuple[int, str, str]] = []
    try:
        for ahead in days:
            start = FROZEN_NOW.replace(hour=10) + timedelta(days=ahead)
            appointment = client.create_appointment(
                STORE,
                NewAppointment(
                    external_reference=f"op-{ahead}",
                    due_in=start,
                    service_product_ids=(SERVICE,),
                    given_name="A",
                    family_name="B",
                    license_plate="AB12CDE",
                ),
            )
            enquiry_id = f"enq-{ahead:03d}"
            harness.db.collection("enquiries").document(enquiry_id).set(
                {
                    "customerId": "cust-a",
                    "supplierId": UK_SUPPLIER,
                    "status": "BOOKED",
                    "slot": {"start": start.isoformat(), "end": None},
                    "dms": {
                        "provider": "KEYLOOP",
                        "appointmentId": appointment.appointment_id,
                        "enterpriseId": STORE.enterprise_id,
                        "storeId": STORE.store_id,
                        "localTimeZone": None,
                    },
                    "history": [],
                    "updatedAt": FROZEN_NOW,
                }
            )
            made.append((ahead, enquiry_id, appointment.appointment_id))
    finally:
        client.close()
    return made


def _race_once(harness: Harness, i: int) -> str:
    """Book, then at the same moment: we rearrange to 11:00, the dealer moves to 14:00."""
    day = 12 + i % 4  # 12th to 15th January
    data = booking(key=f"key-create-race-{i:06d}", slot={"start": f"2027-01-{day}T09:00:00+00:00"})
    created = harness.call("createBooking", data).result
    barrier = threading.Barrier(2)
    result: dict[str, Any] = {}

    def ours() -> None:
        barrier.wait()
        outcome = harness.call(
            "rearrangeBooking",
            rearrange(
                created["enquiryId"], f"key-race-{i:012d}", start=f"2027-01-{day}T11:00:00+00:00"
            ),
        )
        result["ours"] = "ok" if outcome.ok else outcome.reason

    def theirs() -> None:
        barrier.wait()
        response = harness.http.post(
            f"{harness.sandbox.url}/_sandbox/appointments/{created['appointmentId']}/move",
            json={"dueInDateTime": f"2027-01-{day}T14:00:00.000Z"},
            timeout=10,
        )
        result["theirs"] = response.status_code

    threads = [threading.Thread(target=ours), threading.Thread(target=theirs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return f"{result.get('ours')}/{result.get('theirs')}"


def test_a_dealer_move_racing_our_rearrange_ends_consistent(
    harness: Harness, events: EventsEndpoint
) -> None:
    outcomes = [_race_once(harness, i) for i in range(6)]

    # Every event answered, then one sync run, as the schedule would make.
    def settled() -> bool:
        log = harness.sandbox_get("events")["deliveries"]
        return all(isinstance(d["outcome"], int) for d in log)

    wait_for(settled, what="every delivery answered")
    report = sync(SyncSettings(force=True, max_reads=500))
    # The conditional writes already left every enquiry right: the sync had nothing to mend.
    assert report.changed == [], outcomes

    # The saga's own promises (issue 10's invariants), then the DMS's time on every enquiry.
    assert violations(World.read(harness), settled=False) == [], outcomes
    live = {a["appointmentId"]: a for a in harness.appointments("BOOKED")}
    booked_enquiries = [e for e in harness.docs("enquiries").values() if e["status"] == "BOOKED"]
    assert len(booked_enquiries) == 6, outcomes
    for found in booked_enquiries:
        appointment = live.get(found["dms"]["appointmentId"])
        assert appointment is not None, f"a BOOKED enquiry on a dead appointment: {outcomes}"
        dms_time = parse_time(appointment["dueInDateTime"], None)
        assert datetime.fromisoformat(found["slot"]["start"]) == dms_time, outcomes
    pointing = [e["dms"]["appointmentId"] for e in booked_enquiries]
    for appointment_id in live:
        assert pointing.count(appointment_id) == 1, f"a live appointment not ours once: {outcomes}"


def test_a_booking_we_moved_is_read_again_by_the_next_run(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After our rearrange the enquiry is on an appointment the sync has not read: the next
    scheduled run reads it, whatever the interval of its last look (the window in which a
    dealer's event about the new appointment finds no enquiry yet; docs/decisions.md)."""
    created = harness.call(
        "createBooking", booking(slot={"start": "2027-03-08T09:00:00+00:00"})
    ).result  # 63 days out: looked at once a day
    assert sync().looked == 1
    moved = harness.call(
        "rearrangeBooking", rearrange(created["enquiryId"], start="2027-03-09T10:00:00+00:00")
    ).result
    monkeypatch.setattr("visn.infra.clock.now", lambda: FROZEN_NOW + timedelta(minutes=10))
    report = sync()
    assert report.looked == 1, report
    looked = [r["path"] for r in harness.upstream_requests()[-3:] if r["endpoint"] == "repairOrder"]
    assert any(moved["appointmentId"] in path for path in looked), looked
    monkeypatch.setattr("visn.infra.clock.now", lambda: FROZEN_NOW + timedelta(minutes=20))
    assert sync().looked == 0  # read once: due again by its class
