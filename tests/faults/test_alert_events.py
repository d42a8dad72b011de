"""The log events alerts page on (ops/) that the fault matrix does not already produce:
Keyloop refusing our credentials, a scheduled reconciler run that fails, an operation stuck
mid-create, and a cancel we owe that Firestore cannot record."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.processes import free_port
from keyloop import Store
from tests.faults.conftest import Scenario
from tests.functions.harness import ALICE, firestore_outage
from tests.functions.test_create_booking import KEY, booking
from visn.entry import api
from visn.infra import clients
from visn.records.namespace import COMPENSATIONS
from visn.saga.operations import operation_id
from visn.saga.reconciler import ReconcilerIncomplete

AVAILABILITY = {"supplierId": "keyloop-leeds", "date": "2027-01-12", "serviceTypes": ["MOT"]}
OP_ID = operation_id(ALICE.uid, KEY)


def _lines(text: str, prefix: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [line for line in lines if str(line.get("message", "")).startswith(prefix)]


def test_refused_credentials_are_logged_for_a_person(
    scenario: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario.harness.fault("token", status=401, count=5)
    outcome = scenario.harness.call("getAvailability", AVAILABILITY)
    assert (outcome.status, outcome.reason) == ("UNAVAILABLE", "DMS_UNAVAILABLE")
    (line,) = _lines(capsys.readouterr().err, "KEYLOOP_CREDENTIALS_REFUSED:")
    assert line["severity"] == "ERROR"
    assert (line["operation"], line["status"]) == ("token", 401)
    assert line["error"] == "KeyloopAuthenticationError"
    token_cids = [r["correlationId"] for r in scenario.harness.upstream_requests()]
    assert line["correlationId"] in token_cids


def test_an_entitlement_refusal_is_logged_too(
    scenario: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario.harness.sandbox_post("config", {"notEntitledClients": ["sandbox-client"]})
    try:
        outcome = scenario.harness.call("getAvailability", AVAILABILITY)
    finally:
        scenario.harness.sandbox_post("config", {"notEntitledClients": []})
    assert outcome.reason == "DMS_UNAVAILABLE"
    (line,) = _lines(capsys.readouterr().err, "KEYLOOP_CREDENTIALS_REFUSED:")
    assert (line["operation"], line["error"]) == ("availability", "KeyloopNotEntitledError")


def test_a_healthy_call_logs_no_refusal(
    scenario: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    assert scenario.harness.call("getAvailability", AVAILABILITY).ok
    assert _lines(capsys.readouterr().err, "KEYLOOP_CREDENTIALS_REFUSED:") == []


def test_a_failed_reconciler_run_is_logged_and_raised(
    scenario: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        # Firestore is down for this run: nothing listens where the client is sent.
        patch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
        patch.setenv("FIRESTORE_TIMEOUT_MS", "500")
        clients.reset()
        try:
            with pytest.raises(ReconcilerIncomplete) as raised:
                api.reconcile(None)
        finally:
            clients.reset()
    (line,) = _lines(capsys.readouterr().err, "RECONCILER_FAILED:")
    assert line["severity"] == "ERROR"
    assert line["error"] == type(raised.value).__name__
    assert scenario.reconcile().as_dict()["needsAttention"] == 0  # and the next run works


class ProcessDied(BaseException):
    """Stands in for the instance dying mid-call: nothing in our code catches it."""


def test_an_operation_stuck_mid_create_goes_to_a_person(
    scenario: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    def die(*args: Any, **kwargs: Any) -> None:
        raise ProcessDied

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("visn.saga.booking.book", die)  # dies around the Keyloop create
        with pytest.raises(ProcessDied):
            scenario.harness.call("createBooking", booking())
    scenario.advance(minutes=15)
    report = scenario.reconcile()
    assert report.stale_outcome_unknown == [OP_ID]
    (line,) = _lines(capsys.readouterr().err, "BOOKING_NEEDS_ATTENTION:")
    assert (line["why"], line["operationId"]) == ("STALE_OPERATION_OUTCOME_UNKNOWN", OP_ID)


def test_a_cancel_owed_that_cannot_be_recorded_is_only_in_the_log(
    scenario: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    from google.cloud.firestore_v1.document import DocumentReference

    original = DocumentReference.set

    def set_unless_compensation(self: DocumentReference, *args: Any, **kwargs: Any) -> Any:
        if self.path.startswith(f"{COMPENSATIONS}/"):
            raise firestore_outage("compensation write failed")
        return original(self, *args, **kwargs)

    def fail_enquiry(*args: Any, **kwargs: Any) -> None:
        raise firestore_outage("enquiry write failed")

    scenario.harness.fault("cancel", status=503, count=3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("visn.saga.booking.write_enquiry", fail_enquiry)
        patch.setattr(DocumentReference, "set", set_unless_compensation)
        outcome = scenario.harness.call("createBooking", booking())
    assert outcome.reason == "BOOKING_NOT_SAVED"
    assert scenario.harness.docs(COMPENSATIONS) == {}
    (line,) = _lines(capsys.readouterr().err, "KEYLOOP_CANCEL_OWED:")
    assert (line["durable"], line["why"]) == (False, "ENQUIRY_WRITE_FAILED")
    # What the person does on that page: cancel the appointment in the dealer's DMS.
    (appointment,) = scenario.harness.appointments("BOOKED")
    assert appointment["appointmentId"] == line["appointmentId"]
    scenario.harness.http.delete(
        f"{scenario.harness.sandbox.url}/_sandbox/faults", timeout=5
    ).raise_for_status()
    store = Store(line["enterpriseId"], line["storeId"])
    clients.keyloop_client().cancel_appointment(store, line["appointmentId"])
