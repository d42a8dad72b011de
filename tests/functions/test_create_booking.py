"""createBooking: the saga, idempotency, compensation, and the reasons a user can get."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from devtools.seed import IE_SUPPLIER, SERVICE_PRODUCTS, UK_SUPPLIER
from tests.functions.harness import ALICE, BOB, NO_CUSTOMER, Harness, firestore_outage
from visn.records.namespace import COMPENSATIONS, OPERATIONS
from visn.saga.operations import operation_id

SLOT = {"start": "2027-01-12T10:00:00+00:00"}
KEY = "key-create-000000001"


def booking(key: str = KEY, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "idempotencyKey": key,
        "supplierId": UK_SUPPLIER,
        "serviceTypes": ["SERVICE", "MOT"],
        "slot": SLOT,
        "vehicle": {
            "registration": "ab12 cde",
            "vin": "WVWZZZ1JZXW000001",
            "mileage": {"value": 42000, "unit": "MI"},
        },
        "contact": {
            "givenName": "Ada",
            "familyName": "Lovelace",
            "email": "ada@example.com",
            "phone": "+44 7700 900123",
        },
        "notes": "Rattle from the rear.",
    }
    data.update(overrides)
    return data


def break_enquiry_write(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise firestore_outage("enquiry write failed")

    monkeypatch.setattr("visn.saga.booking.write_enquiry", fail)


def test_happy_path(harness: Harness) -> None:
    result = harness.call("createBooking", booking()).result
    assert result["status"] == "BOOKED"
    assert result["slot"] == {
        "start": "2027-01-12T10:00:00+00:00",
        "end": "2027-01-12T11:00:00+00:00",
    }
    (appointment,) = harness.appointments()
    assert appointment["status"] == "BOOKED"
    assert appointment["appointmentId"] == result["appointmentId"]
    assert appointment["appointmentReference"] == result["appointmentReference"]
    op_id = operation_id(ALICE.uid, KEY)
    assert appointment["externalReference"] == op_id
    sent = appointment["request"]
    assert sent["details"]["dueInDateTime"] == "2027-01-12T10:00:00.000Z"
    assert sent["vehicle"]["identification"]["licensePlate"] == "AB12CDE"
    assert sent["serviceProducts"] == [
        {"serviceProductId": SERVICE_PRODUCTS["SERVICE"]},
        {"serviceProductId": SERVICE_PRODUCTS["MOT"]},
    ]

    enquiry = harness.doc("enquiries", result["enquiryId"])
    assert enquiry is not None
    assert enquiry["customerId"] == "cust-a"
    assert enquiry["status"] == "BOOKED"
    assert enquiry["createdBy"] == ALICE.uid
    assert enquiry["vehicle"]["registration"] == "AB12CDE"
    assert enquiry["contact"]["email"] == "ada@example.com"
    assert enquiry["dms"]["appointmentId"] == result["appointmentId"]
    assert enquiry["dms"]["provider"] == "KEYLOOP"
    assert [h["action"] for h in enquiry["history"]] == ["BOOKED"]
    operation = harness.doc(OPERATIONS, op_id)
    assert operation is not None
    assert operation["status"] == "COMPLETED"
    assert operation["result"] == result
    assert "contact" not in operation  # personal data lives on the enquiry only


def test_local_times_supplier_books_wall_clock(harness: Harness) -> None:
    data = booking(supplierId=IE_SUPPLIER, serviceTypes=["MOT"])
    data["slot"] = {"start": "2027-04-13T07:30:00+01:00"}
    result = harness.call("createBooking", data).result
    assert result["slot"]["start"] == "2027-04-13T07:30:00+01:00"
    (appointment,) = harness.appointments()
    assert appointment["request"]["details"]["dueInDateTime"] == "2027-04-13T07:30:00.000Z"


def test_replay_of_a_completed_key(harness: Harness) -> None:
    first = harness.call("createBooking", booking()).result
    again = harness.call("createBooking", booking()).result
    assert again == first
    assert len(harness.appointments()) == 1
    assert harness.upstream_counts()["create"] == 1


def test_ten_threads_one_key_one_appointment(harness: Harness) -> None:
    barrier = threading.Barrier(10)
    outcomes: list[Any] = []

    def book() -> None:
        barrier.wait()
        outcomes.append(harness.call("createBooking", booking()))

    threads = [threading.Thread(target=book) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(outcomes) == 10
    assert len(harness.appointments()) == 1
    successes = [o for o in outcomes if o.ok]
    assert successes
    assert len({o.result["appointmentId"] for o in successes}) == 1
    assert {o.reason for o in outcomes if not o.ok} <= {"IN_PROGRESS"}


def test_same_key_different_request(harness: Harness) -> None:
    assert harness.call("createBooking", booking()).ok
    other = harness.call("createBooking", booking(notes="something else"))
    assert (other.status, other.reason) == ("INVALID_ARGUMENT", "IDEMPOTENCY_KEY_REUSED")
    assert harness.upstream_counts()["create"] == 1


def test_same_key_other_user_is_another_operation(harness: Harness) -> None:
    assert harness.call("createBooking", booking()).ok
    second = harness.call("createBooking", booking(slot={"start": "2027-01-12T11:00:00Z"}), BOB)
    assert second.ok
    assert len(harness.appointments("BOOKED")) == 2


def test_key_in_progress(harness: Harness) -> None:
    op_id = operation_id(ALICE.uid, KEY)
    assert harness.call("createBooking", booking()).ok
    harness.db.collection(OPERATIONS).document(op_id).update({"status": "IN_PROGRESS"})
    outcome = harness.call("createBooking", booking())
    assert (outcome.status, outcome.reason) == ("ABORTED", "IN_PROGRESS")


def test_slot_taken(harness: Harness) -> None:
    harness.fault("create", status=409, body={"code": "SLOT_UNAVAILABLE", "message": "full"})
    outcome = harness.call("createBooking", booking())
    assert (outcome.status, outcome.reason) == ("ABORTED", "SLOT_UNAVAILABLE")
    assert harness.appointments() == []
    operation = harness.doc(OPERATIONS, operation_id(ALICE.uid, KEY))
    assert operation is not None
    assert operation["status"] == "FAILED"
    # Nothing was booked, so the same key may be tried again.
    assert harness.call("createBooking", booking()).ok
    assert len(harness.appointments("BOOKED")) == 1


def test_dms_rejected_and_unavailable(harness: Harness) -> None:
    harness.fault("create", status=400, body={"code": "VALIDATION", "message": "no"})
    rejected = harness.call("createBooking", booking())
    assert (rejected.status, rejected.reason) == ("FAILED_PRECONDITION", "DMS_REJECTED")
    assert "no" not in rejected.error["message"].split()  # Keyloop's text is not passed on
    harness.fault("create", status=503)
    down = harness.call("createBooking", booking())
    assert (down.status, down.reason) == ("UNAVAILABLE", "DMS_UNAVAILABLE")
    assert harness.appointments() == []


def test_outcome_unknown_is_replayed_not_rebooked(harness: Harness) -> None:
    harness.fault("create", stallSeconds=3, process=True)  # read timeout is 2 s here
    outcome = harness.call("createBooking", booking())
    assert (outcome.status, outcome.reason) == ("UNAVAILABLE", "DMS_OUTCOME_UNKNOWN")
    replay = harness.call("createBooking", booking())
    assert replay.reason == "DMS_OUTCOME_UNKNOWN"
    assert harness.upstream_counts()["create"] == 1
    operation = harness.doc(OPERATIONS, operation_id(ALICE.uid, KEY))
    assert operation is not None
    assert operation["status"] == "OUTCOME_UNKNOWN"


def test_enquiry_write_fails_then_compensated(harness: Harness) -> None:
    with pytest.MonkeyPatch.context() as patch:
        break_enquiry_write(patch)
        outcome = harness.call("createBooking", booking())
    assert (outcome.status, outcome.reason) == ("INTERNAL", "BOOKING_NOT_SAVED")
    assert "nothing was booked" in outcome.error["message"]
    (appointment,) = harness.appointments()
    assert appointment["status"] == "CANCELLED"
    assert harness.docs("enquiries") == {}
    operation = harness.doc(OPERATIONS, operation_id(ALICE.uid, KEY))
    assert operation is not None
    assert operation["status"] == "COMPENSATED"
    assert harness.docs(COMPENSATIONS) == {}
    # Nothing is booked, so the same key books once the fault is gone.
    assert harness.call("createBooking", booking()).ok
    assert len(harness.appointments("BOOKED")) == 1


def test_enquiry_write_and_cancel_fail_leaves_a_durable_record(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    break_enquiry_write(monkeypatch)
    harness.fault("cancel", status=503, count=10)
    outcome = harness.call("createBooking", booking())
    assert outcome.reason == "BOOKING_NOT_SAVED"
    (appointment,) = harness.appointments()
    assert appointment["status"] == "BOOKED"  # still live: the reconciler owes a cancel
    (record,) = harness.docs(COMPENSATIONS).values()
    assert record["status"] == "PENDING"
    assert record["appointmentId"] == appointment["appointmentId"]
    assert record["operationId"] == operation_id(ALICE.uid, KEY)
    assert record["enterpriseId"] == "ENT-1001"
    assert record["lastError"]["status"] == 503
    operation = harness.doc(OPERATIONS, operation_id(ALICE.uid, KEY))
    assert operation is not None
    assert operation["status"] == "COMPENSATING"
    assert operation["appointmentId"] == appointment["appointmentId"]
    errors = capsys.readouterr().err
    assert "KEYLOOP_CANCEL_OWED" in errors
    assert appointment["appointmentId"] in errors


def test_slot_must_be_in_the_future(harness: Harness) -> None:
    outcome = harness.call("createBooking", booking(slot={"start": "2027-01-04T08:00:00Z"}))
    assert outcome.reason == "VALIDATION"
    assert outcome.fields == [{"path": "slot.start", "message": "must be in the future"}]


def test_collection_address_rules(harness: Harness) -> None:
    missing = harness.call("createBooking", booking(optionalService="COLLECTION_AND_DELIVERY"))
    assert missing.fields[0]["path"] == "collectionAddress"
    address = {"line1": "1 Park Row", "city": "Leeds", "postalCode": "LS1 5AB"}
    refused = harness.call("createBooking", booking(collectionAddress=address))
    assert refused.fields[0]["path"] == "collectionAddress"
    ok = harness.call(
        "createBooking",
        booking(optionalService="COLLECTION_AND_DELIVERY", collectionAddress=address),
    )
    assert ok.ok, ok.body
    (appointment,) = harness.appointments()
    option = appointment["request"]["bookingOption"]
    assert option["collectAddress"]["postalCode"] == "LS1 5AB"
    assert harness.upstream_counts()["create"] == 1


def test_signed_out_and_no_customer(harness: Harness) -> None:
    signed_out = harness.call("createBooking", booking(), user=None)
    assert (signed_out.status, signed_out.reason) == ("UNAUTHENTICATED", "UNAUTHENTICATED")
    nobody = harness.call("createBooking", booking(), user=NO_CUSTOMER)
    assert (nobody.status, nobody.reason) == ("PERMISSION_DENIED", "NO_CUSTOMER")
    assert sum(harness.upstream_counts().values()) == 0


def test_invalid_input_reaches_nothing(harness: Harness) -> None:
    data = booking()
    data["vehicle"] = {"registration": "!"}
    data["contact"]["givenName"] = ""
    data["surprise"] = True
    outcome = harness.call("createBooking", data)
    assert (outcome.status, outcome.reason) == ("INVALID_ARGUMENT", "VALIDATION")
    assert {f["path"] for f in outcome.fields} == {
        "vehicle.registration",
        "contact.givenName",
        "surprise",
    }
    assert sum(harness.upstream_counts().values()) == 0
    assert harness.docs(OPERATIONS) == {}
