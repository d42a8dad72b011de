"""cancelBooking and rearrangeBooking: order of work, failures, and who may touch what."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functions.conftest import FROZEN_NOW
from tests.functions.harness import ALICE_COLLEAGUE, BOB, Harness, firestore_outage
from tests.functions.test_create_booking import booking
from visn.access.quotas import CANCEL_RETRY_SPACING
from visn.records.namespace import COMPENSATIONS

NEW_SLOT = {"start": "2027-01-13T14:00:00+00:00"}


def booked(harness: Harness) -> dict[str, Any]:
    return harness.call("createBooking", booking()).result


def rearrange(enquiry_id: str, key: str = "key-rearrange-000001", **slot: str) -> dict[str, Any]:
    return {"idempotencyKey": key, "enquiryId": enquiry_id, "slot": slot or NEW_SLOT}


# -- cancel ------------------------------------------------------------------------------------


def test_cancel_then_cancel_again(harness: Harness) -> None:
    created = booked(harness)
    data = {"enquiryId": created["enquiryId"], "reason": "Plans changed"}
    first = harness.call("cancelBooking", data).result
    assert first == {"enquiryId": created["enquiryId"], "status": "CANCELLED"}
    (appointment,) = harness.appointments()
    assert appointment["status"] == "CANCELLED"
    enquiry = harness.doc("enquiries", created["enquiryId"])
    assert enquiry is not None
    assert enquiry["status"] == "CANCELLED"
    entry = enquiry["history"][-1]
    assert (entry["action"], entry["by"], entry["reason"]) == (
        "CANCELLED",
        "user-alice",
        data["reason"],
    )
    again = harness.call("cancelBooking", data).result
    assert again == first
    assert harness.upstream_counts()["cancel"] == 1  # the second cancel asked Keyloop nothing


def test_cancel_by_a_colleague_of_the_same_customer(harness: Harness) -> None:
    created = booked(harness)
    outcome = harness.call("cancelBooking", {"enquiryId": created["enquiryId"]}, ALICE_COLLEAGUE)
    assert outcome.ok


def test_cancel_when_appointment_already_gone_in_keyloop(harness: Harness) -> None:
    created = booked(harness)
    harness.fault("cancel", status=404, body={"code": "APPOINTMENT_NOT_FOUND"})
    assert harness.call("cancelBooking", {"enquiryId": created["enquiryId"]}).ok
    enquiry = harness.doc("enquiries", created["enquiryId"])
    assert enquiry is not None
    assert enquiry["status"] == "CANCELLED"


def test_cancel_with_keyloop_down_then_up(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = booked(harness)
    harness.fault("cancel", status=503, count=3)  # first try + 2 retries
    down = harness.call("cancelBooking", {"enquiryId": created["enquiryId"]})
    # A 503 may hide a cancel that happened: the cancel stays owed, and the caller is told so.
    assert down.result["status"] == "CANCELLING"
    enquiry = harness.doc("enquiries", created["enquiryId"])
    assert enquiry is not None
    assert enquiry["status"] == "CANCELLING"
    (owed,) = harness.docs(COMPENSATIONS).values()
    assert (owed["status"], owed["enquiryId"]) == ("PENDING", created["enquiryId"])
    assert harness.appointments()[0]["status"] == "BOOKED"
    # Past the spacing between Keyloop attempts on a CANCELLING enquiry (test_quotas.py).
    monkeypatch.setattr("visn.infra.clock.now", lambda: FROZEN_NOW + CANCEL_RETRY_SPACING)
    again = harness.call("cancelBooking", {"enquiryId": created["enquiryId"]})
    assert again.result["status"] == "CANCELLED"
    assert harness.appointments()[0]["status"] == "CANCELLED"
    (owed,) = harness.docs(COMPENSATIONS).values()
    assert (owed["status"], owed["settled"]) == ("DONE", True)


def test_cancel_refused_by_the_dms_takes_the_intent_back(harness: Harness) -> None:
    created = booked(harness)
    harness.fault("cancel", status=400, body={"code": "CHECKED_IN", "message": "on site"})
    refused = harness.call("cancelBooking", {"enquiryId": created["enquiryId"]})
    assert (refused.status, refused.reason) == ("FAILED_PRECONDITION", "DMS_REJECTED")
    enquiry = harness.doc("enquiries", created["enquiryId"])
    assert enquiry is not None
    assert enquiry["status"] == "BOOKED"
    assert harness.appointments()[0]["status"] == "BOOKED"
    (owed,) = harness.docs(COMPENSATIONS).values()
    assert (owed["status"], owed["outcome"]) == ("DONE", "REFUSED_BY_DMS")


def test_another_customers_enquiry_does_not_exist(harness: Harness) -> None:
    created = booked(harness)
    for name, data in [
        ("cancelBooking", {"enquiryId": created["enquiryId"]}),
        ("rearrangeBooking", rearrange(created["enquiryId"])),
    ]:
        outcome = harness.call(name, data, BOB)
        assert (outcome.status, outcome.reason) == ("NOT_FOUND", "ENQUIRY_NOT_FOUND")
    missing = harness.call("cancelBooking", {"enquiryId": "doesNotExist"})
    assert (missing.status, missing.reason) == ("NOT_FOUND", "ENQUIRY_NOT_FOUND")
    assert (
        missing.error["message"]
        == harness.call("cancelBooking", {"enquiryId": created["enquiryId"]}, BOB).error["message"]
    )
    assert harness.appointments()[0]["status"] == "BOOKED"
    assert harness.upstream_counts()["cancel"] == 0


# -- rearrange ---------------------------------------------------------------------------------


def test_rearrange_make_before_break(harness: Harness) -> None:
    created = booked(harness)
    result = harness.call("rearrangeBooking", rearrange(created["enquiryId"])).result
    assert result["status"] == "BOOKED"
    assert result["previousAppointmentId"] == created["appointmentId"]
    assert result["appointmentId"] != created["appointmentId"]
    assert result["slot"] == {
        "start": "2027-01-13T14:00:00+00:00",
        "end": "2027-01-13T15:00:00+00:00",
    }
    # Order on the wire: the new booking is made before the old one is cancelled.
    calls = [(r["endpoint"], r["status"]) for r in harness.upstream_requests()]
    work = [c for c in calls if c[0] in {"create", "cancel"}]
    assert work == [("create", 201), ("create", 201), ("cancel", 204)]
    live = {a["appointmentId"]: a["status"] for a in harness.appointments()}
    assert live == {created["appointmentId"]: "CANCELLED", result["appointmentId"]: "BOOKED"}
    enquiry = harness.doc("enquiries", created["enquiryId"])
    assert enquiry is not None
    assert enquiry["dms"]["appointmentId"] == result["appointmentId"]
    assert enquiry["slot"] == result["slot"]
    moved = enquiry["history"][-1]
    assert moved["action"] == "REARRANGED"
    assert moved["fromAppointmentId"] == created["appointmentId"]
    assert moved["fromSlot"]["start"] == "2027-01-12T10:00:00+00:00"
    (record,) = harness.docs(COMPENSATIONS).values()
    assert (record["appointmentId"], record["status"]) == (created["appointmentId"], "DONE")
    # Replay: same answer, no Keyloop call.
    before = harness.upstream_counts()
    replay = harness.call("rearrangeBooking", rearrange(created["enquiryId"])).result
    assert replay == result
    assert harness.upstream_counts() == before


def test_rearrange_refusals(harness: Harness) -> None:
    created = booked(harness)
    same = harness.call(
        "rearrangeBooking", rearrange(created["enquiryId"], start="2027-01-12T10:00:00Z")
    )
    assert (same.status, same.reason) == ("INVALID_ARGUMENT", "SAME_SLOT")
    assert harness.call("cancelBooking", {"enquiryId": created["enquiryId"]}).ok
    gone = harness.call(
        "rearrangeBooking", rearrange(created["enquiryId"], key="key-rearrange-000002")
    )
    assert (gone.status, gone.reason) == ("FAILED_PRECONDITION", "ENQUIRY_CANCELLED")
    assert harness.upstream_counts()["create"] == 1


def test_rearrange_new_booking_fails_nothing_changes(harness: Harness) -> None:
    created = booked(harness)
    harness.fault("create", status=409, body={"code": "SLOT_UNAVAILABLE"})
    outcome = harness.call("rearrangeBooking", rearrange(created["enquiryId"]))
    assert (outcome.status, outcome.reason) == ("ABORTED", "SLOT_UNAVAILABLE")
    enquiry = harness.doc("enquiries", created["enquiryId"])
    assert enquiry is not None
    assert enquiry["dms"]["appointmentId"] == created["appointmentId"]
    assert [a["status"] for a in harness.appointments()] == ["BOOKED"]
    assert harness.upstream_counts()["cancel"] == 0


def test_rearrange_enquiry_update_fails_new_is_cancelled(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = booked(harness)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise firestore_outage("enquiry write failed")

    monkeypatch.setattr("visn.saga.rearrange.move_enquiry", fail)
    outcome = harness.call("rearrangeBooking", rearrange(created["enquiryId"]))
    assert (outcome.status, outcome.reason) == ("INTERNAL", "BOOKING_NOT_SAVED")
    statuses = {a["appointmentId"]: a["status"] for a in harness.appointments()}
    assert statuses.pop(created["appointmentId"]) == "BOOKED"  # the old booking stands
    assert list(statuses.values()) == ["CANCELLED"]  # the new one was undone
    enquiry = harness.doc("enquiries", created["enquiryId"])
    assert enquiry is not None
    assert enquiry["dms"]["appointmentId"] == created["appointmentId"]


def test_rearrange_old_cancel_fails_still_succeeds(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    created = booked(harness)
    harness.fault("cancel", status=503, count=3)
    result = harness.call("rearrangeBooking", rearrange(created["enquiryId"])).result
    assert result["previousAppointmentId"] == created["appointmentId"]
    statuses = {a["appointmentId"]: a["status"] for a in harness.appointments()}
    assert statuses == {created["appointmentId"]: "BOOKED", result["appointmentId"]: "BOOKED"}
    (record,) = harness.docs(COMPENSATIONS).values()
    assert record["appointmentId"] == created["appointmentId"]
    assert record["status"] == "PENDING"
    assert record["attempts"] == 1
    assert "KEYLOOP_CANCEL_OWED" in capsys.readouterr().err


def test_availability_timeout_reason(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYLOOP_READ_TIMEOUT_MS", "300")
    from visn.infra import clients

    clients.reset()
    harness.fault("availability", stallSeconds=1, count=2)
    outcome = harness.call(
        "getAvailability",
        {"supplierId": "keyloop-leeds", "date": "2027-01-12", "serviceTypes": ["MOT"]},
    )
    assert (outcome.status, outcome.reason) == ("DEADLINE_EXCEEDED", "DMS_TIMEOUT")
