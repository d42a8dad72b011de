"""The review's smaller findings (issue 10, item 8, and the rest of item 7), each pinned by a
test that failed before its fix. The explorer covers items 1 to 7 step by step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from tests.functions.harness import ALICE
from tests.functions.test_create_booking import booking
from tests.saga.invariants import World, violations
from tests.saga.world import SagaWorld
from visn.infra import clients
from visn.records.store_record import store_from
from visn.saga.compensations import COMPENSATIONS
from visn.saga.operations import OPERATIONS, operation_id
from visn.saga.reconciler import MIN_STUCK_AFTER, ReconcilerSettings, reconcile

KEY = "key-findings-000001"
OP = operation_id(ALICE.uid, KEY)


def _op(world: SagaWorld, op_id: str = OP) -> dict[str, Any]:
    document = world.harness.doc(OPERATIONS, op_id)
    assert document is not None
    return document


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own module, fixed arguments)
        [sys.executable, "-m", "visn", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_compensation_marked_done_by_hand_closes_its_operation(saga_world: SagaWorld) -> None:
    world, h = saga_world, saga_world.harness
    world.die_at(
        f"commit update-if-unchanged {OPERATIONS}",
        lambda: world.call("createBooking", booking(key=KEY)),
    )
    h.fault("cancel", status=503, count=100)
    for _ in range(5):  # past every back-off, until the reconciler gives up
        world.at(world.minutes + 180)
        reconcile(ReconcilerSettings())
    (record_id, record), *_ = h.docs(COMPENSATIONS).items()
    assert record["status"] == "NEEDS_ATTENTION"
    assert _op(world)["status"] == "COMPENSATING"
    # A person cancels it in the DMS and marks the record DONE, as docs/operations.md says.
    requests_delete = h.http.delete(f"{h.sandbox.url}/_sandbox/faults", timeout=5)
    requests_delete.raise_for_status()
    clients.keyloop_client().cancel_appointment(store_from(record), record["appointmentId"])
    h.db.collection(COMPENSATIONS).document(record_id).update({"status": "DONE"})
    world.settle()
    assert _op(world)["status"] == "COMPENSATED"
    assert h.doc(COMPENSATIONS, record_id)["settled"] is True  # type: ignore[index]
    # The key is free again: the same request books.
    assert h.call("createBooking", booking(key=KEY)).ok


def test_a_completed_booking_replays_after_its_slot_passed_and_its_supplier_changed(
    saga_world: SagaWorld,
) -> None:
    world, h = saga_world, saga_world.harness
    first = h.call("createBooking", booking(key=KEY)).result
    world.at(60 * 24 * 30)  # a month later: the slot is in the past
    h.db.collection("suppliers").document("keyloop-leeds").update({"liveDiaryProvider": None})
    from visn.records import suppliers

    suppliers.suppliers.clear()
    replay = h.call("createBooking", booking(key=KEY))
    assert replay.result == first
    # A new key is still checked: past slot, and no live diary any more.
    fresh = h.call("createBooking", booking(key="key-findings-000002"))
    assert fresh.reason in {"VALIDATION", "NO_LIVE_DIARY"}


def test_a_completed_rearrange_replays_after_its_slot_passed(saga_world: SagaWorld) -> None:
    world, h = saga_world, saga_world.harness
    created = h.call("createBooking", booking(key=KEY)).result
    move = {
        "idempotencyKey": "key-findings-move-01",
        "enquiryId": created["enquiryId"],
        "slot": {"start": "2027-01-13T14:00:00+00:00"},
    }
    moved = h.call("rearrangeBooking", move).result
    world.at(60 * 24 * 30)
    assert h.call("rearrangeBooking", move).result == moved


@pytest.mark.parametrize("name", ["cancelBooking", "rearrangeBooking"])
def test_an_appointment_that_has_started_cannot_be_cancelled_or_moved(
    saga_world: SagaWorld, name: str
) -> None:
    world, h = saga_world, saga_world.harness
    created = h.call("createBooking", booking(key=KEY)).result
    world.at(8 * 24 * 60 + 61)  # 2027-01-12 10:01 (the clock starts 01-04 09:00; slot 10:00)
    data: dict[str, Any] = {"enquiryId": created["enquiryId"]}
    if name == "rearrangeBooking":
        data |= {
            "idempotencyKey": "key-findings-move-02",
            "slot": {"start": "2027-01-20T09:00:00Z"},
        }
    outcome = h.call(name, data)
    assert (outcome.status, outcome.reason) == ("FAILED_PRECONDITION", "APPOINTMENT_STARTED")
    assert [a["status"] for a in h.appointments()] == ["BOOKED"]
    assert h.upstream_counts().get("cancel", 0) == 0


def test_the_stale_threshold_has_a_floor() -> None:
    with pytest.raises(ValueError, match="stuck_after"):
        ReconcilerSettings(stuck_after=timedelta(0))
    assert ReconcilerSettings(stuck_after=MIN_STUCK_AFTER).stuck_after == MIN_STUCK_AFTER
    refused = _cli("reconcile", "--stuck-after-minutes", "0")
    assert refused.returncode == 2
    assert "at least" in refused.stderr


def test_a_secret_store_that_refuses_settles_the_operation(
    saga_world: SagaWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = saga_world.harness

    class Refusing:
        def get(self) -> Any:
            raise PermissionError("secret manager said no")

        def refresh(self) -> bool:
            return False

    working = clients._credentials
    monkeypatch.setattr("visn.infra.clients._credentials", Refusing)
    refused = h.call("createBooking", booking(key=KEY))
    assert refused.reason == "DMS_UNAVAILABLE"
    assert _op(saga_world)["status"] == "FAILED"  # provably nothing booked: the key is free
    assert h.upstream_counts().get("create", 0) == 0
    monkeypatch.setattr("visn.infra.clients._credentials", working)
    clients.reset()
    assert h.call("createBooking", booking(key=KEY)).ok


def test_a_person_lists_and_resolves_outcomes_nobody_knows(saga_world: SagaWorld) -> None:
    """`python -m visn operations list|resolve`, separate processes on the same Firestore."""
    world, h = saga_world, saga_world.harness
    h.fault("create", status=504, process=True)  # booked, and the gateway lost the answer
    assert h.call("createBooking", booking(key=KEY)).reason == "DMS_OUTCOME_UNKNOWN"
    other = operation_id(ALICE.uid, "key-findings-000003")
    h.fault("create", status=504)  # not booked, answered the same
    data = booking(key="key-findings-000003", slot={"start": "2027-01-12T11:00:00+00:00"})
    assert h.call("createBooking", data).reason == "DMS_OUTCOME_UNKNOWN"
    listed = _cli("operations", "list", "--state", "OUTCOME_UNKNOWN")
    assert listed.returncode == 0, listed.stderr
    assert sorted(line.split()[1] for line in listed.stdout.splitlines()) == sorted([OP, other])
    assert "Ada" not in listed.stdout
    assert "example.com" not in listed.stdout
    (found,) = [a["appointmentId"] for a in h.appointments() if a["externalReference"] == OP]
    kept = _cli("operations", "resolve", OP, "--booked", found)
    assert json.loads(kept.stdout)["status"] == "COMPLETED", kept.stderr
    gone = _cli("operations", "resolve", other, "--not-booked")
    assert json.loads(gone.stdout)["status"] == "FAILED", gone.stderr
    again = _cli("operations", "resolve", other, "--not-booked")
    assert again.returncode == 1
    # The kept booking is the enquiry it should have been, and its key replays it.
    (enquiry,) = h.docs("enquiries").values()
    assert (enquiry["status"], enquiry["dms"]["appointmentId"]) == ("BOOKED", found)
    assert enquiry["contact"]["givenName"] == "Ada"
    assert h.call("createBooking", booking(key=KEY)).result["appointmentId"] == found
    world.settle()
    assert violations(World.read(h), settled=True, person_done=True) == []


def test_an_operation_firestore_will_not_settle_says_how_to_clear_it(
    saga_world: SagaWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    h = saga_world.harness
    h.fault("create", status=503)  # nothing booked...

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise gexc.ServiceUnavailable("firestore down (injected)")  # type: ignore[no-untyped-call]

    monkeypatch.setattr("visn.saga.operations._settle_once", refuse)  # ...and Firestore refuses
    assert h.call("createBooking", booking(key=KEY)).reason == "DMS_UNAVAILABLE"
    out, err = capsys.readouterr()
    (line,) = [
        json.loads(raw) for raw in (out + err).splitlines() if "OPERATION_NOT_SETTLED" in raw
    ]
    assert (line["severity"], line["operationId"], line["intended"]) == ("ERROR", OP, "FAILED")
    assert line["clear"] == f"python -m visn operations resolve {OP} --not-booked"
