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
    # Its own process runs on the real clock: the booked day is within 60 days of it.
    done = subprocess.run(
        [sys.executable, "-m", "visn", "sync", "--horizon-days", "60"],
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


def test_intervals_are_shorter_closer_to_the_day() -> None:
    now = FROZEN_NOW
    assert interval_for(now + timedelta(hours=3), now) == timedelta(minutes=30)
    assert interval_for(now + timedelta(days=4), now) == timedelta(hours=2)
    assert interval_for(now + timedelta(days=12), now) == timedelta(hours=6)
    assert min(interval_for(now + timedelta(hours=h), now) for h in range(1, 400)) >= timedelta(
        minutes=30
    )


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
    assert first.in_horizon == len(in_horizon)
    assert first.left_for_next_run == len(in_horizon) - 100
    looked = set(harness.docs(SYNC_CHECKS))
    assert looked == {e for _, e in in_horizon[:100]}  # nearest first

    second = sync(SyncSettings(max_reads=100))  # same moment: the next 100, none again
    assert second.keyloop_reads == 100
    assert set(harness.docs(SYNC_CHECKS)) == {e for _, e in in_horizon[:200]}

    # 31 minutes on: those within 48 h are due again, the rest not yet.
    later = FROZEN_NOW + timedelta(minutes=31)
    monkeypatch.setattr("visn.infra.clock.now", lambda: later)
    third = sync(SyncSettings(max_reads=500))
    soon = [e for s, e in in_horizon[:200] if s - later <= timedelta(hours=48)]
    assert third.due == len(soon) + len(in_horizon) - 200
    assert third.keyloop_reads == third.due
    assert third.outcomes == {"UNCHANGED": third.due}

    by_hand = sync(SyncSettings(max_reads=500, force=True))
    assert by_hand.keyloop_reads == len(in_horizon) == by_hand.due


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
