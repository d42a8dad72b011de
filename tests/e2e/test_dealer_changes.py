"""Through the whole stack: the sandbox, playing Keyloop and the dealer, posts real CloudEvents
to the functions emulator's keyloopEvents, which reads the repair order back and changes the
enquiry in Firestore. Every test leaves nothing booked."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from devtools.seed import UK_SUPPLIER
from devtools.stack.lifecycle import Stack
from tests.e2e.test_stack import id_token
from tests.functions.events_endpoint import wait_for as _wait_for

CE = "application/cloudevents+json"
# Through the whole stack (the emulator's worker, Keyloop's delivery) a change may take longer.
wait_for = functools.partial(_wait_for, timeout=60.0)


@pytest.fixture
def switches(stack: Stack) -> Iterator[Callable[..., None]]:
    def set_switches(**values: Any) -> None:
        requests.post(f"{stack.sandbox_url}/_sandbox/events", json=values, timeout=10)

    yield set_switches
    set_switches(delayMs=0, duplicate=False, drop=0, hold=False)


_used_days: set[date] = set()


def book(stack: Stack) -> dict[str, Any]:
    """A booking on a day of its own (some weeks out, Monday to Saturday), through the callable."""
    day = date.today() + timedelta(days=40 + len(_used_days))
    while day.weekday() == 6 or day in _used_days:
        day += timedelta(days=1)
    _used_days.add(day)
    response = requests.post(
        stack.callable_url("createBooking"),
        json={
            "data": {
                "idempotencyKey": f"e2e-dealer-{uuid.uuid4().hex[:16]}",
                "supplierId": UK_SUPPLIER,
                "serviceTypes": ["SERVICE"],
                "slot": {"start": _london_nine(day)},
                "vehicle": {"registration": "AB12 CDE"},
                "contact": {"givenName": "Ada", "familyName": "Lovelace"},
            }
        },
        headers={"Authorization": f"Bearer {id_token(stack, stack.users[0])}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["result"])


def _london_nine(day: date) -> str:
    return datetime(day.year, day.month, day.day, 9, tzinfo=ZoneInfo("Europe/London")).isoformat()


def dealer(stack: Stack, appointment_id: str, action: str, body: Any = None) -> None:
    response = requests.post(
        f"{stack.sandbox_url}/_sandbox/appointments/{appointment_id}/{action}",
        json=body or {},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def enquiry(stack: Stack, enquiry_id: str) -> dict[str, Any]:
    found = stack.get_document("enquiries", enquiry_id)
    assert found is not None
    return found


def last_action(stack: Stack, enquiry_id: str) -> str:
    return str(enquiry(stack, enquiry_id)["history"][-1]["action"])


def two_hours_later(start: str) -> str:
    """Keyloop's wire time (real UTC for this store) two hours after `start`."""
    moved = datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(hours=2)
    return moved.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_a_dealer_move_cancel_and_completion_reach_the_enquiries(stack: Stack) -> None:
    moved = book(stack)
    to = two_hours_later(moved["slot"]["start"])
    dealer(stack, moved["appointmentId"], "move", {"dueInDateTime": to})
    wait_for(
        lambda: last_action(stack, moved["enquiryId"]) == "MOVED_IN_DMS",
        timeout=60,
        what="the move",
    )
    after = enquiry(stack, moved["enquiryId"])
    assert datetime.fromisoformat(after["slot"]["start"]) == datetime.fromisoformat(
        to.replace("Z", "+00:00")
    )
    assert after["history"][-1]["by"] == "DMS"

    dealer(stack, moved["appointmentId"], "cancel")
    wait_for(
        lambda: enquiry(stack, moved["enquiryId"])["status"] == "CANCELLED",
        timeout=60,
        what="cancel",
    )
    assert last_action(stack, moved["enquiryId"]) == "CANCELLED_IN_DMS"

    done = book(stack)
    dealer(stack, done["appointmentId"], "complete", {"status": "WORKCOMPLETED"})
    wait_for(
        lambda: enquiry(stack, done["enquiryId"])["status"] == "COMPLETED",
        timeout=60,
        what="completion",
    )
    assert last_action(stack, done["enquiryId"]) == "COMPLETED_IN_DMS"


def test_duplicates_and_out_of_order_events_end_at_the_dms_time(
    stack: Stack, switches: Callable[..., None]
) -> None:
    booked = book(stack)
    switches(duplicate=True, hold=True)
    first = two_hours_later(booked["slot"]["start"])
    second = two_hours_later(first.replace("Z", "+00:00"))
    dealer(stack, booked["appointmentId"], "move", {"dueInDateTime": first})
    dealer(stack, booked["appointmentId"], "move", {"dueInDateTime": second})
    released = requests.post(
        f"{stack.sandbox_url}/_sandbox/events/release", json={"newestFirst": True}, timeout=10
    ).json()
    assert released == {"released": 4}
    wait_for(
        lambda: last_action(stack, booked["enquiryId"]) == "MOVED_IN_DMS",
        timeout=60,
        what="the move",
    )

    def all_answered() -> bool:
        log = requests.get(f"{stack.sandbox_url}/_sandbox/events", timeout=10).json()
        mine = [d for d in log["deliveries"] if d["repairOrderId"] == booked["appointmentId"]]
        return sum(1 for d in mine if d["outcome"] == 204) >= 5  # created + 4 released

    wait_for(all_answered, what="every delivery answered 204")
    after = enquiry(stack, booked["enquiryId"])
    assert datetime.fromisoformat(after["slot"]["start"]) == datetime.fromisoformat(
        second.replace("Z", "+00:00")
    )
    assert [h["action"] for h in after["history"]] == ["BOOKED", "MOVED_IN_DMS"]
    dealer(stack, booked["appointmentId"], "cancel")  # leave nothing booked


def event(**data: Any) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": uuid.uuid4().hex,
            "source": "urn:e2e",
            "type": "com.keyloop.test",
            "data": data,
        }
    ).encode()


def test_the_emulators_keyloop_events_answers(stack: Stack) -> None:
    url = stack.describe()["keyloopEventsUrl"]
    secret = stack.describe()["eventsSecret"]
    ok = {"Content-Type": CE, "x-api-key": secret}
    not_ours = event(repairOrderId="not-ours-123", context={"enterpriseId": "1", "storeId": "S"})
    assert requests.post(url, data=not_ours, headers=ok, timeout=30).status_code == 204
    assert requests.post(url, data=not_ours, headers=ok, timeout=30).status_code == 204  # again
    assert requests.post(url, data=event(), headers=ok, timeout=30).status_code == 204  # ignored
    wrong = {"Content-Type": CE, "x-api-key": "wrong"}
    assert requests.post(url, data=not_ours, headers=wrong, timeout=30).status_code == 401
    missing = {"Content-Type": CE}
    assert requests.post(url, data=not_ours, headers=missing, timeout=30).status_code == 401
    assert requests.post(url, data=b'{"hello": 1}', headers=ok, timeout=30).status_code == 400
    assert requests.post(url, data=b"<xml/>", headers=ok, timeout=30).status_code == 400
