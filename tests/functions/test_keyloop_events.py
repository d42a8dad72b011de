"""keyloopEvents: real CloudEvents posted by the sandbox (playing Keyloop and the dealer) to
the function on a real socket, applied to enquiries in the Firestore emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.functions.events_endpoint import EVENTS_SECRET, EventsEndpoint, wait_for
from tests.functions.harness import Harness
from tests.functions.test_cancel_rearrange import booked, rearrange
from tests.functions.test_create_booking import booking
from visn.contract.documents import EnquiryDocument
from visn.sync.names import EVENT_RECEIPTS

CE = "application/cloudevents+json"


def deliveries(harness: Harness) -> list[dict[str, Any]]:
    return list(harness.sandbox_get("events")["deliveries"])


def answered(harness: Harness, count: int) -> list[dict[str, Any]]:
    """Wait until `count` deliveries have been answered 2xx; returns them."""

    def done() -> list[dict[str, Any]]:
        ok = [d for d in deliveries(harness) if isinstance(d["outcome"], int)]
        ok = [d for d in ok if 200 <= d["outcome"] < 300]
        return ok if len(ok) >= count else []

    return list(wait_for(done, what=f"{count} deliveries"))


def enquiry(harness: Harness, enquiry_id: str) -> dict[str, Any]:
    document = harness.doc("enquiries", enquiry_id)
    assert document is not None
    EnquiryDocument.model_validate(document)  # as published for the Web UI (docs/schemas)
    return document


def dealer(harness: Harness, appointment_id: str, action: str, body: Any = None) -> None:
    harness.sandbox_post(f"appointments/{appointment_id}/{action}", body or {})


def repair_order_reads(harness: Harness) -> int:
    return harness.upstream_counts()["repairOrder"]


def test_a_dealer_move_reaches_the_enquiry(harness: Harness, events: EventsEndpoint) -> None:
    created = booked(harness)
    answered(harness, 1)  # our own create, seen back: nothing to change
    assert [h["action"] for h in enquiry(harness, created["enquiryId"])["history"]] == ["BOOKED"]

    dealer(harness, created["appointmentId"], "move", {"dueInDateTime": "2027-01-12T14:00:00.000Z"})
    answered(harness, 2)

    after = enquiry(harness, created["enquiryId"])
    assert after["status"] == "BOOKED"
    assert after["slot"] == {
        "start": "2027-01-12T14:00:00+00:00",
        "end": "2027-01-12T15:00:00+00:00",
    }
    entry = after["history"][-1]
    assert entry["action"] == "MOVED_IN_DMS"
    assert entry["by"] == "DMS"
    assert entry["via"] == "EVENT"
    assert entry["fromSlot"] == created["slot"]
    assert entry["slot"] == after["slot"]
    assert len(after["history"]) == 2


def test_a_move_is_shown_with_the_suppliers_offset(
    harness: Harness, events: EventsEndpoint
) -> None:
    # Dublin's DMS writes local wall-clock time with a literal Z (localTimes); summer: IST.
    data = booking(
        supplierId="keyloop-dublin",
        serviceTypes=["MOT"],
        slot={"start": "2027-04-13T09:00:00+01:00"},
    )
    created = harness.call("createBooking", data).result
    dealer(harness, created["appointmentId"], "move", {"dueInDateTime": "2027-04-13T10:30:00.000Z"})
    answered(harness, 2)
    assert enquiry(harness, created["enquiryId"])["slot"] == {
        "start": "2027-04-13T10:30:00+01:00",
        "end": "2027-04-13T11:00:00+01:00",
    }


def test_a_dealer_cancel_reaches_the_enquiry_and_no_keyloop_call_follows(
    harness: Harness, events: EventsEndpoint
) -> None:
    created = booked(harness)
    dealer(harness, created["appointmentId"], "cancel")
    answered(harness, 2)
    after = enquiry(harness, created["enquiryId"])
    assert after["status"] == "CANCELLED"
    assert [h["action"] for h in after["history"]] == ["BOOKED", "CANCELLED_IN_DMS"]
    assert after["history"][-1]["by"] == "DMS"

    cancels = harness.upstream_counts()["cancel"]
    cancelled = harness.call("cancelBooking", {"enquiryId": created["enquiryId"]})
    assert cancelled.result == {"enquiryId": created["enquiryId"], "status": "CANCELLED"}
    assert harness.upstream_counts()["cancel"] == cancels  # no Keyloop call of ours
    moved = harness.call("rearrangeBooking", rearrange(created["enquiryId"]))
    assert (moved.status, moved.reason) == ("FAILED_PRECONDITION", "ENQUIRY_CANCELLED")


@pytest.mark.parametrize("dms_status", ["WORKCOMPLETED", "CLOSED"])
def test_a_dealer_completion_reaches_the_enquiry(
    harness: Harness, events: EventsEndpoint, dms_status: str
) -> None:
    created = booked(harness)
    dealer(harness, created["appointmentId"], "complete", {"status": dms_status})
    answered(harness, 2)
    after = enquiry(harness, created["enquiryId"])
    assert after["status"] == "COMPLETED"
    assert after["history"][-1]["action"] == "COMPLETED_IN_DMS"
    assert after["history"][-1]["dmsStatus"] == dms_status

    for name, data in (
        ("cancelBooking", {"enquiryId": created["enquiryId"]}),
        ("rearrangeBooking", rearrange(created["enquiryId"])),
    ):
        refused = harness.call(name, data)
        assert (refused.status, refused.reason) == ("FAILED_PRECONDITION", "ENQUIRY_COMPLETED")
    assert harness.upstream_counts()["cancel"] == 0


def test_the_same_event_twice_is_applied_once(harness: Harness, events: EventsEndpoint) -> None:
    created = booked(harness)
    answered(harness, 1)
    reads = repair_order_reads(harness)
    harness.sandbox_post("events", {"duplicate": True})
    dealer(harness, created["appointmentId"], "move", {"dueInDateTime": "2027-01-12T14:00:00.000Z"})
    both = answered(harness, 3)
    assert both[-1]["eventId"] == both[-2]["eventId"]
    assert repair_order_reads(harness) == reads + 1  # the duplicate caused no read
    history = enquiry(harness, created["enquiryId"])["history"]
    assert [h["action"] for h in history] == ["BOOKED", "MOVED_IN_DMS"]


def test_events_out_of_order_end_at_what_the_dms_says(
    harness: Harness, events: EventsEndpoint
) -> None:
    created = booked(harness)
    answered(harness, 1)
    harness.sandbox_post("events", {"hold": True})
    for when in ("2027-01-12T11:00:00.000Z", "2027-01-12T15:00:00.000Z"):
        dealer(harness, created["appointmentId"], "move", {"dueInDateTime": when})
    harness.sandbox_post("events/release", {"newestFirst": True})
    answered(harness, 3)
    after = enquiry(harness, created["enquiryId"])
    assert after["slot"]["start"] == "2027-01-12T15:00:00+00:00"
    # The newer event read the final time; the older one, arriving last, read it too: no-op.
    moves = [h for h in after["history"] if h["action"] == "MOVED_IN_DMS"]
    assert [(m["fromSlot"]["start"], m["slot"]["start"]) for m in moves] == [
        ("2027-01-12T10:00:00+00:00", "2027-01-12T15:00:00+00:00")
    ]


def test_our_own_changes_seen_back_add_no_history(harness: Harness, events: EventsEndpoint) -> None:
    created = booked(harness)
    answered(harness, 1)
    moved = harness.call("rearrangeBooking", rearrange(created["enquiryId"])).result
    answered(harness, 3)  # the new appointment created, the old one cancelled
    assert harness.call("cancelBooking", {"enquiryId": created["enquiryId"]}).ok
    answered(harness, 4)
    after = enquiry(harness, created["enquiryId"])
    assert [h["action"] for h in after["history"]] == ["BOOKED", "REARRANGED", "CANCELLED"]
    assert after["dms"]["appointmentId"] == moved["appointmentId"]


def test_an_event_for_a_repair_order_not_ours_is_answered_and_dropped(
    harness: Harness, events: EventsEndpoint
) -> None:
    created = booked(harness)
    answered(harness, 1)
    before = enquiry(harness, created["enquiryId"])
    reads = repair_order_reads(harness)
    # Booked straight in the DMS's API by someone else: its events are not ours.
    token = harness.http.post(
        f"{harness.sandbox.url}/oauth/client_credential/accesstoken?grant_type=client_credentials",
        auth=("sandbox-client", "sandbox-secret"),
        timeout=5,
    ).json()["access_token"]
    response = harness.http.post(
        f"{harness.sandbox.url}/appointment/ENT-1001/STORE-01/v1/appointments",
        json={
            "details": {"dueInDateTime": "2027-01-12T12:00:00.000Z"},
            "customer": {"names": {"givenName": "X", "familyName": "Y"}},
            "vehicle": {"identification": {"licensePlate": "XY12ZZZ"}},
            "serviceProducts": [{"serviceProductId": "3f0c6a52-6f7e-4d4b-9b1e-0a0000000001"}],
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    other = response.json()["appointmentId"]
    dealer(harness, other, "move", {"dueInDateTime": "2027-01-12T13:00:00.000Z"})
    answered(harness, 3)
    assert enquiry(harness, created["enquiryId"]) == before
    assert repair_order_reads(harness) == reads  # never read: not ours


def post(events: EventsEndpoint, body: Any, **headers: str) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": CE, "x-api-key": EVENTS_SECRET, **headers}
    return requests.post(events.url, data=data, headers=sent, timeout=10)


def event(**overrides: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "urn:test",
        "type": "com.keyloop.whatever",
        "data": {"repairOrderId": "unknown-ro", "context": {"enterpriseId": "E", "storeId": "S"}},
        **overrides,
    }


@pytest.mark.parametrize("key", [None, "", "wrong", EVENTS_SECRET + "x"])
def test_a_wrong_or_missing_api_key_is_401(
    harness: Harness, events: EventsEndpoint, key: str | None
) -> None:
    headers = {"Content-Type": CE}
    if key is not None:
        headers["x-api-key"] = key
    response = requests.post(events.url, data=json.dumps(event()), headers=headers, timeout=10)
    assert response.status_code == 401
    assert harness.docs(EVENT_RECEIPTS) == {}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        {"id": "x", "source": "s", "type": "t"},  # no specversion
        {"specversion": "0.3", "id": "x", "source": "s", "type": "t"},
        {"specversion": "1.0", "source": "s", "type": "t"},
        {"specversion": "1.0", "id": "", "source": "s", "type": "t"},
        {"specversion": "1.0", "id": "x", "type": "t"},
        {"specversion": "1.0", "id": "x", "source": "s"},
    ],
)
def test_a_body_that_is_not_a_cloudevent_is_400(
    harness: Harness, events: EventsEndpoint, body: Any
) -> None:
    assert post(events, body).status_code == 400


def test_content_types_and_methods(harness: Harness, events: EventsEndpoint) -> None:
    assert post(events, event(), **{"Content-Type": "application/json"}).status_code == 204
    assert post(events, event(id="e2"), **{"Content-Type": "text/plain"}).status_code == 400
    assert (
        requests.get(events.url, headers={"x-api-key": EVENTS_SECRET}, timeout=10).status_code
        == 405
    )


def test_well_formed_events_we_ignore_are_204(harness: Harness, events: EventsEndpoint) -> None:
    assert post(events, event(data={"customerId": "c-1"})).status_code == 204  # no repair order
    assert post(events, event(id="e3", data=None)).status_code == 204
    assert post(events, event(id="e4")).status_code == 204  # a store we do not know
    assert post(events, event(id="e4")).status_code == 204  # and its duplicate
    assert post(events, event(id="e5", data={"RepairOrderId": "other-spelling"})).status_code == 204
    assert repair_order_reads(harness) == 0
    assert harness.docs(EVENT_RECEIPTS) == {}  # nothing written for events not ours


def test_keyloop_failing_answers_503_and_the_redelivery_applies(
    harness: Harness, events: EventsEndpoint
) -> None:
    created = booked(harness)
    answered(harness, 1)
    harness.fault("repairOrder", status=500)  # not retried by the client: the event fails
    dealer(harness, created["appointmentId"], "cancel")
    answered(harness, 2)
    outcomes = [d["outcome"] for d in deliveries(harness)]
    assert outcomes == [204, 503, 204]  # Keyloop redelivered; the receipt had been taken back
    assert enquiry(harness, created["enquiryId"])["status"] == "CANCELLED"


def test_no_secret_token_or_personal_data_in_the_log(
    harness: Harness, events: EventsEndpoint, capfd: pytest.CaptureFixture[str]
) -> None:
    created = booked(harness)
    dealer(harness, created["appointmentId"], "move", {"dueInDateTime": "2027-01-12T14:00:00.000Z"})
    answered(harness, 2)
    post(events, event(id="bad"), **{"x-api-key": "wrong-key-value"})
    out = capfd.readouterr()
    text = out.out + out.err
    lines = [json.loads(x) for x in out.out.splitlines() if x.startswith("{")]
    handled = [x for x in lines if x.get("message") == "keyloop event handled"]
    assert {x["outcome"] for x in handled} >= {"MOVED", "UNAUTHORISED"}
    secrets = [
        EVENTS_SECRET,
        "wrong-key-value",
        "sandbox-secret",
        *harness.sandbox.state.issued_tokens(),
    ]
    personal = ["Ada", "Lovelace", "ada@example.com", "7700 900123", "AB12 CDE", "Rattle"]
    for value in secrets + personal:
        assert value not in text, value
