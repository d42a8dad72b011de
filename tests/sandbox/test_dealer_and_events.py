"""The sandbox as the dealer's DMS: repair-order read-back, dealer changes, CloudEvents to a
subscriber with delivery switches, and the token endpoint's credential modes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from keyloop_sandbox import SandboxServer, start_sandbox

CLIENT = ("sandbox-client", "sandbox-secret")
SERVICE = "3f0c6a52-6f7e-4d4b-9b1e-0a0000000001"
TIMEOUT = 5
APPTS = "/appointment/ENT-1001/STORE-01/v1/appointments"
TOKEN_PATH = "/oauth/client_credential/accesstoken?grant_type=client_credentials"


class Subscriber:
    """A real HTTP endpoint that records what it is posted and answers `status`."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], Any]] = []
        self.status = 204
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append(
                    ({k.lower(): v for k, v in self.headers.items()}, json.loads(body))
                )
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/events"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with start_sandbox() as server:
        yield server


@pytest.fixture
def subscriber(sandbox: SandboxServer) -> Iterator[Subscriber]:
    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=TIMEOUT).raise_for_status()
    sub = Subscriber()
    control(sandbox, "subscriptions", {"url": sub.url, "secret": "events-secret"})
    yield sub
    sub.close()


def control(sandbox: SandboxServer, path: str, body: Any = None) -> Any:
    response = requests.post(f"{sandbox.url}/_sandbox/{path}", json=body, timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()


def bearer(sandbox: SandboxServer) -> dict[str, str]:
    response = requests.post(sandbox.url + TOKEN_PATH, auth=CLIENT, timeout=TIMEOUT)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def book(sandbox: SandboxServer, due_in: str) -> str:
    body = {
        "details": {"dueInDateTime": due_in, "externalReference": "op"},
        "customer": {"names": {"givenName": "A", "familyName": "B"}},
        "vehicle": {"identification": {"licensePlate": "AB12CDE"}},
        "serviceProducts": [{"serviceProductId": SERVICE}],
    }
    response = requests.post(
        sandbox.url + APPTS, json=body, headers=bearer(sandbox), timeout=TIMEOUT
    )
    assert response.status_code == 201, response.text
    return str(response.json()["appointmentId"])


def repair_order(sandbox: SandboxServer, appointment_id: str) -> requests.Response:
    return requests.get(
        f"{sandbox.url}/ENT-1001/STORE-01/v1/repair-orders/{appointment_id}",
        headers=bearer(sandbox),
        timeout=TIMEOUT,
    )


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def capacity(sandbox: SandboxServer, due_in: str) -> int:
    response = requests.post(
        sandbox.url + APPTS + "/availability",
        json={
            "enterpriseId": "ENT-1001",
            "storeId": "STORE-01",
            "date": due_in[:10],
            "serviceProducts": [{"serviceProductId": SERVICE}],
        },
        headers=bearer(sandbox),
        timeout=TIMEOUT,
    )
    slots = response.json()["availableSlots"]
    return int(next(s["capacity"] for s in slots if s["dueInDateTime"] == due_in))


def test_repair_order_reads_back_a_booking_and_follows_dealer_changes(
    sandbox: SandboxServer, subscriber: Subscriber
) -> None:
    appointment_id = book(sandbox, "2027-01-12T09:00:00.000Z")
    order = repair_order(sandbox, appointment_id).json()
    assert order["repairOrderId"] == appointment_id
    assert order["status"] == "CREATED"
    assert order["appointment"]["dueInDateTime"] == "2027-01-12T09:00:00.000Z"

    assert capacity(sandbox, "2027-01-12T11:00:00.000Z") == 2
    control(
        sandbox,
        f"appointments/{appointment_id}/move",
        {"dueInDateTime": "2027-01-12T11:00:00.000Z"},
    )
    assert repair_order(sandbox, appointment_id).json()["appointment"]["dueInDateTime"] == (
        "2027-01-12T11:00:00.000Z"
    )
    assert capacity(sandbox, "2027-01-12T09:00:00.000Z") == 2  # freed
    assert capacity(sandbox, "2027-01-12T11:00:00.000Z") == 1  # taken

    control(sandbox, f"appointments/{appointment_id}/complete", {"status": "CLOSED"})
    assert repair_order(sandbox, appointment_id).json()["status"] == "CLOSED"

    other = book(sandbox, "2027-01-12T10:00:00.000Z")
    control(sandbox, f"appointments/{other}/cancel")
    assert repair_order(sandbox, other).json()["status"] == "CANCELLED"
    assert capacity(sandbox, "2027-01-12T10:00:00.000Z") == 2


def labour(order: dict[str, Any]) -> list[str]:
    """Every labour item's status, the job's own and its menus' (where Keyloop's adapter looks)."""
    jobs = order["jobs"]
    own = [item["status"] for job in jobs for item in job["labor"]]
    menus = [item["status"] for job in jobs for menu in job["menus"] for item in menu["labor"]]
    return own + menus


def test_repair_orders_list_labour_items_also_inside_menus(
    sandbox: SandboxServer, subscriber: Subscriber
) -> None:
    booked = book(sandbox, "2027-01-12T09:00:00.000Z")
    order = repair_order(sandbox, booked).json()
    assert labour(order) == ["BOOKED", "BOOKED"]
    assert [p["status"] for p in order["jobs"][0]["parts"]] == ["BOOKED"]
    cancelled = book(sandbox, "2027-01-12T10:00:00.000Z")
    control(sandbox, f"appointments/{cancelled}/cancel")
    assert labour(repair_order(sandbox, cancelled).json()) == ["CANCELLED", "CANCELLED"]


def test_a_dealer_unbook_leaves_the_repair_order_open_with_no_labour_booked(
    sandbox: SandboxServer, subscriber: Subscriber
) -> None:
    appointment_id = book(sandbox, "2027-01-12T09:00:00.000Z")
    assert capacity(sandbox, "2027-01-12T09:00:00.000Z") == 1
    shown = control(sandbox, f"appointments/{appointment_id}/unbook")
    assert (shown["status"], shown["repairOrderStatus"]) == ("CANCELLED", "CREATED")
    order = repair_order(sandbox, appointment_id).json()
    assert order["status"] == "CREATED"
    assert order["appointment"]["dueInDateTime"] == "2027-01-12T09:00:00.000Z"
    assert labour(order) == ["CANCELLED", "CANCELLED"]
    assert [p["status"] for p in order["jobs"][0]["parts"]] == ["BOOKED"]  # parts say nothing
    assert capacity(sandbox, "2027-01-12T09:00:00.000Z") == 2  # the place is freed
    wait_for(lambda: len(subscriber.received) == 2)  # created, then updated
    assert subscriber.received[-1][1]["data"]["repairOrderId"] == appointment_id
    # The appointment API treats it as cancelled: our own cancel finds nothing live.
    gone = requests.delete(
        f"{sandbox.url}{APPTS}/{appointment_id}", headers=bearer(sandbox), timeout=TIMEOUT
    )
    assert gone.status_code == 404
    path = f"{sandbox.url}/_sandbox/appointments/{appointment_id}"
    again = requests.post(f"{path}/unbook", json={}, timeout=TIMEOUT)
    assert again.status_code == 409
    other = book(sandbox, "2027-01-12T10:00:00.000Z")
    path = f"{sandbox.url}/_sandbox/appointments/{other}"
    for bad in ({"labourStatus": "BOOKED"}, {"labourStatus": ""}, {"other": 1}):
        assert requests.post(f"{path}/unbook", json=bad, timeout=TIMEOUT).status_code == 400
    control(sandbox, f"appointments/{other}/unbook", {"labourStatus": "UNALLOCATED"})
    assert labour(repair_order(sandbox, other).json()) == ["UNALLOCATED", "UNALLOCATED"]


def test_unknown_repair_order_is_the_apis_own_404(sandbox: SandboxServer) -> None:
    response = repair_order(sandbox, "no-such-appointment")
    assert response.status_code == 404
    assert "fault" not in response.json()
    no_token = requests.get(f"{sandbox.url}/ENT-1001/STORE-01/v1/repair-orders/x", timeout=TIMEOUT)
    assert no_token.status_code == 401
    assert "fault" in no_token.json()


def test_dealer_moves_only_into_a_free_slot_start(
    sandbox: SandboxServer, subscriber: Subscriber
) -> None:
    appointment_id = book(sandbox, "2027-01-12T09:00:00.000Z")
    book(sandbox, "2027-01-12T13:00:00.000Z")
    book(sandbox, "2027-01-12T13:00:00.000Z")
    path = f"{sandbox.url}/_sandbox/appointments/{appointment_id}/move"
    full = requests.post(path, json={"dueInDateTime": "2027-01-12T13:00:00.000Z"}, timeout=5)
    assert full.status_code == 409
    not_a_slot = requests.post(path, json={"dueInDateTime": "2027-01-12T13:30:00.000Z"}, timeout=5)
    assert not_a_slot.status_code == 400


def test_every_change_is_posted_as_a_cloudevent_with_the_secret(
    sandbox: SandboxServer, subscriber: Subscriber
) -> None:
    appointment_id = book(sandbox, "2027-01-12T09:00:00.000Z")
    control(
        sandbox,
        f"appointments/{appointment_id}/move",
        {"dueInDateTime": "2027-01-12T10:00:00.000Z"},
    )
    wait_for(lambda: len(subscriber.received) == 2)
    headers, event = subscriber.received[-1]
    assert headers["x-api-key"] == "events-secret"
    assert headers["content-type"] == "application/cloudevents+json"
    assert event["specversion"] == "1.0"
    assert event["data"]["repairOrderId"] == appointment_id
    assert event["data"]["context"]["enterpriseId"] == "ENT-1001"
    assert event["data"]["context"]["storeId"] == "STORE-01"
    assert {"id", "source", "type", "time"} <= set(event)
    log = requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()
    assert [d["outcome"] for d in log["deliveries"]] == [204, 204]
    assert "events-secret" not in json.dumps(log)


def test_delivery_switches_duplicate_drop_hold_and_reorder(
    sandbox: SandboxServer, subscriber: Subscriber
) -> None:
    control(sandbox, "events", {"duplicate": True})
    first = book(sandbox, "2027-01-12T09:00:00.000Z")
    wait_for(lambda: len(subscriber.received) == 2)
    assert subscriber.received[0][1]["id"] == subscriber.received[1][1]["id"]

    control(sandbox, "events", {"duplicate": False, "drop": 1})
    book(sandbox, "2027-01-12T10:00:00.000Z")
    control(sandbox, "events", {"hold": True})
    control(sandbox, f"appointments/{first}/cancel")
    third = book(sandbox, "2027-01-12T11:00:00.000Z")
    time.sleep(0.3)
    assert len(subscriber.received) == 2  # one dropped, two held
    assert control(sandbox, "events/release", {"newestFirst": True}) == {"released": 2}
    wait_for(lambda: len(subscriber.received) == 4)
    later = [event["data"]["repairOrderId"] for _, event in subscriber.received[2:]]
    assert later == [third, first]  # newest first: out of order


def test_delay_and_retry_on_failure(sandbox: SandboxServer, subscriber: Subscriber) -> None:
    control(sandbox, "events", {"delayMs": 300})
    subscriber.status = 503
    started = time.monotonic()
    book(sandbox, "2027-01-12T09:00:00.000Z")
    assert subscriber.received == []  # not yet: delayed
    wait_for(lambda: len(subscriber.received) == 3)
    assert time.monotonic() - started > 0.3
    log = requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()["deliveries"]
    assert [(d["attempt"], d["outcome"]) for d in log] == [(1, 503), (2, 503), (3, 503)]


@pytest.mark.parametrize("mode", ["basic", "form", "either"])
def test_token_endpoint_credentials_modes(sandbox: SandboxServer, mode: str) -> None:
    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=TIMEOUT).raise_for_status()
    control(sandbox, "config", {"tokenAuth": mode})
    basic = requests.post(sandbox.url + TOKEN_PATH, auth=CLIENT, timeout=TIMEOUT)
    form = requests.post(
        sandbox.url + TOKEN_PATH,
        data={"client_id": CLIENT[0], "client_secret": CLIENT[1]},
        timeout=TIMEOUT,
    )
    assert (basic.status_code, form.status_code) == {
        "basic": (200, 401),
        "form": (401, 200),
        "either": (200, 200),
    }[mode]
