"""The Keyloop sandbox over real sockets: gateway auth, diary behaviour, faults and controls."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from keyloop_sandbox import SandboxServer, start_sandbox

CLIENT = ("sandbox-client", "sandbox-secret")
LONDON = ("ENT-1001", "STORE-01")
DUBLIN = ("ENT-2002", "STORE-07")
SERVICE = "3f0c6a52-6f7e-4d4b-9b1e-0a0000000001"
MOT = "3f0c6a52-6f7e-4d4b-9b1e-0a0000000002"
COURTESY_CAR = "7a1d2e3f-0000-4000-8000-000000000002"
WINTER_DAY = "2027-01-12"  # a Tuesday, GMT
SUMMER_DAY = "2027-07-13"  # a Tuesday, BST / IST
TIMEOUT = 5
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with start_sandbox() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(sandbox: SandboxServer) -> None:
    _post(sandbox, "/_sandbox/reset").raise_for_status()


# Helpers


def _post(sandbox: SandboxServer, path: str, **kwargs: Any) -> requests.Response:
    return requests.post(sandbox.url + path, timeout=TIMEOUT, **kwargs)


def _get_json(sandbox: SandboxServer, path: str) -> Any:
    response = requests.get(sandbox.url + path, timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()


def _token_response(
    sandbox: SandboxServer, auth: tuple[str, str] | None = CLIENT, query: bool = True
) -> requests.Response:
    suffix = "?grant_type=client_credentials" if query else ""
    return _post(
        sandbox,
        "/oauth/client_credential/accesstoken" + suffix,
        auth=auth,
        data={"grant_type": "client_credentials"} if query else {},
    )


def _headers(sandbox: SandboxServer) -> dict[str, str]:
    response = _token_response(sandbox)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _base(sandbox: SandboxServer, store: tuple[str, str] = LONDON) -> str:
    return f"{sandbox.url}/appointment/{store[0]}/{store[1]}/v1/appointments"


def _availability(
    sandbox: SandboxServer,
    day: str,
    store: tuple[str, str] = LONDON,
    headers: dict[str, str] | None = None,
    **overrides: Any,
) -> requests.Response:
    body = {
        "enterpriseId": store[0],
        "storeId": store[1],
        "date": day,
        "serviceProducts": [{"serviceProductId": SERVICE}],
        **overrides,
    }
    return requests.post(
        _base(sandbox, store) + "/availability",
        json=body,
        headers=headers if headers is not None else _headers(sandbox),
        timeout=TIMEOUT,
    )


def _create_body(due_in: str, external_reference: str = "op-1") -> dict[str, Any]:
    return {
        "details": {"externalReference": external_reference, "dueInDateTime": due_in},
        "customer": {
            "names": {"givenName": "Ada", "familyName": "Lovelace"},
            "contactInformation": {"email": "ada@example.invalid", "mobile": "07700900000"},
        },
        "vehicle": {"identification": {"licensePlate": "AB12CDE"}},
        "serviceProducts": [{"serviceProductId": SERVICE}],
        "bookingOption": {"appointmentOptionId": COURTESY_CAR},
    }


def _create(
    sandbox: SandboxServer,
    body: dict[str, Any],
    store: tuple[str, str] = LONDON,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    return requests.post(
        _base(sandbox, store),
        json=body,
        headers=headers if headers is not None else _headers(sandbox),
        timeout=TIMEOUT,
    )


def _capacity_at(response: requests.Response, due_in: str) -> int:
    slots = response.json()["availableSlots"]
    return int(next(s["capacity"] for s in slots if s["dueInDateTime"] == due_in))


def _fault(sandbox: SandboxServer, **fault: Any) -> None:
    _post(sandbox, "/_sandbox/faults", json=fault).raise_for_status()


# Token endpoint


def test_token_success_has_apigee_shape(sandbox: SandboxServer) -> None:
    response = _token_response(sandbox)

    assert response.status_code == 200
    body = response.json()
    assert body.pop("api_product_list_json") == ["appointments"]
    assert all(isinstance(value, str) for value in body.values())
    assert body["token_type"] == "BearerToken"
    assert body["expires_in"] == "3599"
    assert body["client_id"] == "sandbox-client"
    assert body["status"] == "approved"
    assert body["issued_at"].isdigit()
    assert len(body["access_token"]) >= 28


def test_token_grant_type_in_form_body_alone_suffices(sandbox: SandboxServer) -> None:
    response = _post(
        sandbox,
        "/oauth/client_credential/accesstoken",
        auth=CLIENT,
        data={"grant_type": "client_credentials"},
    )

    assert response.status_code == 200


def test_token_type_is_configurable(sandbox: SandboxServer) -> None:
    _post(sandbox, "/_sandbox/config", json={"tokenType": "Bearer"}).raise_for_status()

    assert _token_response(sandbox).json()["token_type"] == "Bearer"


def test_token_bad_credentials(sandbox: SandboxServer) -> None:
    unknown = _token_response(sandbox, auth=("nobody", "s3cret-value"))
    wrong_secret = _token_response(sandbox, auth=("sandbox-client", "s3cret-value"))
    missing = _token_response(sandbox, auth=None)

    assert unknown.status_code == 401
    assert unknown.json() == {
        "ErrorCode": "invalid_request",
        "Error": "Invalid client id : nobody. ClientId is Invalid",
    }
    assert wrong_secret.status_code == 401
    assert wrong_secret.json() == {"ErrorCode": "invalid_client", "Error": "ClientId is Invalid"}
    assert missing.status_code == 401
    assert missing.json()["ErrorCode"] == "invalid_request"
    for response in (unknown, wrong_secret, missing):
        assert "s3cret-value" not in response.text


def test_token_missing_grant_type(sandbox: SandboxServer) -> None:
    response = _token_response(sandbox, query=False)

    assert response.status_code == 400
    assert response.json() == {
        "ErrorCode": "invalid_request",
        "Error": "The request is missing a required parameter : grant_type",
    }


# Gateway auth


def test_api_401_shapes(sandbox: SandboxServer) -> None:
    missing = _availability(sandbox, WINTER_DAY, headers={})
    unknown = _availability(sandbox, WINTER_DAY, headers={"Authorization": "Bearer nope"})
    headers = _headers(sandbox)
    _post(sandbox, "/_sandbox/tokens/expire").raise_for_status()
    expired = _availability(sandbox, WINTER_DAY, headers=headers)

    assert [r.status_code for r in (missing, unknown, expired)] == [401, 401, 401]
    assert missing.json() == {
        "fault": {
            "faultstring": "Invalid access token",
            "detail": {"errorcode": "oauth.v2.InvalidAccessToken"},
        }
    }
    assert unknown.json()["fault"]["faultstring"] == "Invalid Access Token"
    assert unknown.json()["fault"]["detail"]["errorcode"] == (
        "keymanagement.service.invalid_access_token"
    )
    assert expired.json()["fault"]["faultstring"] == "Access Token expired"
    assert expired.json()["fault"]["detail"]["errorcode"] == (
        "keymanagement.service.access_token_expired"
    )
    # A fresh token works again: the refresh path clients rely on.
    assert _availability(sandbox, WINTER_DAY).status_code == 200


def test_token_expires_after_its_ttl(sandbox: SandboxServer) -> None:
    _post(sandbox, "/_sandbox/config", json={"tokenTtlSeconds": 0.05}).raise_for_status()
    headers = _headers(sandbox)
    time.sleep(0.1)

    response = _availability(sandbox, WINTER_DAY, headers=headers)

    assert response.status_code == 401
    assert response.json()["fault"]["faultstring"] == "Access Token expired"


def test_not_entitled_client(sandbox: SandboxServer) -> None:
    config = {"notEntitledClients": ["sandbox-client"]}
    _post(sandbox, "/_sandbox/config", json=config).raise_for_status()

    response = _availability(sandbox, WINTER_DAY)

    assert response.status_code == 401
    assert response.json()["fault"]["detail"]["errorcode"] == (
        "keymanagement.service.InvalidAPICallAsNoApiProductMatchFound"
    )


def test_extra_clients_can_be_added(sandbox: SandboxServer) -> None:
    _post(sandbox, "/_sandbox/config", json={"clients": {"other": "pw"}}).raise_for_status()

    assert _token_response(sandbox, auth=("other", "pw")).status_code == 200


# Availability


def test_availability_winter_date_is_utc(sandbox: SandboxServer) -> None:
    response = _availability(sandbox, WINTER_DAY)

    assert response.status_code == 200
    slots = response.json()["availableSlots"]
    assert len(slots) == 9  # 08:00-17:00, 60 minutes
    assert slots[0] == {
        "dueInDateTime": "2027-01-12T08:00:00.000Z",
        "dueOutDateTime": "2027-01-12T09:00:00.000Z",
        "capacity": 2,
    }
    assert slots[-1]["dueOutDateTime"] == "2027-01-12T17:00:00.000Z"


def test_availability_summer_date_shifts_by_dst(sandbox: SandboxServer) -> None:
    slots = _availability(sandbox, SUMMER_DAY).json()["availableSlots"]

    assert slots[0]["dueInDateTime"] == "2027-07-13T07:00:00.000Z"  # 08:00 BST
    assert slots[-1]["dueOutDateTime"] == "2027-07-13T16:00:00.000Z"  # 17:00 BST


def test_availability_local_times_store_writes_wall_clock_with_z(sandbox: SandboxServer) -> None:
    slots = _availability(sandbox, SUMMER_DAY, DUBLIN).json()["availableSlots"]

    assert len(slots) == 18  # 07:30-16:30, 30 minutes
    assert slots[0] == {
        "dueInDateTime": "2027-07-13T07:30:00.000Z",  # 07:30 IST, not 06:30 UTC
        "dueOutDateTime": "2027-07-13T08:00:00.000Z",
        "capacity": 1,
    }


def test_availability_closed_day_is_empty(sandbox: SandboxServer) -> None:
    response = _availability(sandbox, "2027-01-17")  # a Sunday

    assert response.status_code == 200
    assert response.json() == {"availableSlots": []}


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"storeId": "STORE-99"}, "VALIDATION"),
        ({"date": "12/01/2027"}, "VALIDATION"),
        ({"date": "2027-02-30"}, "VALIDATION"),
        ({"serviceProducts": []}, "VALIDATION"),
        ({"serviceProducts": [{"serviceProductId": "nope"}]}, "UNKNOWN_SERVICE_PRODUCT"),
        ({"bookingOption": {"appointmentOptionId": "nope"}}, "UNKNOWN_APPOINTMENT_OPTION"),
    ],
)
def test_availability_validation(
    sandbox: SandboxServer, overrides: dict[str, Any], code: str
) -> None:
    response = _availability(sandbox, WINTER_DAY, **overrides)

    assert response.status_code == 400
    assert response.json()["code"] == code


def test_malformed_json_and_unknown_store(sandbox: SandboxServer) -> None:
    headers = {**_headers(sandbox), "Content-Type": "application/json"}
    malformed = requests.post(
        _base(sandbox) + "/availability", data="{not json", headers=headers, timeout=TIMEOUT
    )
    unknown_store = _availability(sandbox, WINTER_DAY, ("ENT-1001", "STORE-99"))
    unknown_path = requests.get(sandbox.url + "/nowhere", timeout=TIMEOUT)

    assert malformed.status_code == 400
    assert malformed.json()["code"] == "INVALID_JSON"
    assert unknown_store.status_code == 404
    # Apigee's own 404s, not the appointment API's: nothing is known of any appointment.
    fault_code = unknown_store.json()["fault"]["detail"]["errorcode"]
    assert fault_code == "messaging.adaptors.http.flow.ApplicationNotFound"
    assert unknown_path.status_code == 404
    assert (
        unknown_path.json()["fault"]["detail"]["errorcode"] == "classification.ApplicationNotFound"
    )


# Create and cancel


def test_create_takes_capacity_until_full(sandbox: SandboxServer) -> None:
    due_in = "2027-01-12T10:00:00.000Z"

    first = _create(sandbox, _create_body(due_in, "op-1"))
    after_first = _availability(sandbox, WINTER_DAY)
    second = _create(sandbox, _create_body(due_in, "op-2"))
    third = _create(sandbox, _create_body(due_in, "op-3"))
    after_full = _availability(sandbox, WINTER_DAY)

    assert first.status_code == 201
    body = first.json()
    assert body["details"]["appointmentReference"].startswith("KL-")
    assert len(body["details"]["appointmentReference"]) == 9
    assert body["details"] | {"appointmentReference": "-"} == {
        "appointmentReference": "-",
        "externalReference": "op-1",
        "dueInDateTime": due_in,
        "dueOutDateTime": "2027-01-12T11:00:00.000Z",
        "status": "BOOKED",
    }
    assert body["serviceProducts"] == [{"serviceProductId": SERVICE}]
    assert body["bookingOption"] == {"appointmentOptionId": COURTESY_CAR}
    assert _capacity_at(after_first, due_in) == 1
    assert second.status_code == 201
    assert (
        second.json()["details"]["appointmentReference"] != body["details"]["appointmentReference"]
    )
    assert third.status_code == 409
    assert third.json() == {
        "code": "SLOT_UNAVAILABLE",
        "message": "The requested slot is no longer available",
    }
    assert _capacity_at(after_full, due_in) == 0  # full slots are still listed
    booked = _get_json(sandbox, "/_sandbox/appointments")["appointments"]
    assert [a["externalReference"] for a in booked] == ["op-1", "op-2"]
    assert booked[0]["request"] == _create_body(due_in, "op-1")
    assert booked[0]["appointmentId"] == body["appointmentId"]


def test_create_in_local_times_store(sandbox: SandboxServer) -> None:
    local = _create(sandbox, _create_body("2027-07-13T07:30:00.000Z"), DUBLIN)
    real_utc_reading = _create(sandbox, _create_body("2027-07-13T06:30:00.000Z"), DUBLIN)

    assert local.status_code == 201
    assert local.json()["details"]["dueInDateTime"] == "2027-07-13T07:30:00.000Z"
    assert local.json()["details"]["dueOutDateTime"] == "2027-07-13T08:00:00.000Z"
    assert real_utc_reading.status_code == 400  # 06:30 local is before opening
    assert real_utc_reading.json()["code"] == "INVALID_SLOT"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("details", "dueInDateTime"), None),
        (("details", "dueInDateTime"), "tomorrow"),
        (("customer", "names", "givenName"), ""),
        (("customer", "names", "familyName"), None),
        (("vehicle", "identification", "licensePlate"), " "),
        (("serviceProducts",), []),
        (("serviceProducts",), [{"serviceProductId": "nope"}]),
        (("bookingOption",), {"appointmentOptionId": "nope"}),
    ],
)
def test_create_validation(sandbox: SandboxServer, path: tuple[str, ...], value: Any) -> None:
    body = _create_body("2027-01-12T10:00:00.000Z")
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value

    response = _create(sandbox, body)

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION"
    for personal in ("Ada", "Lovelace", "AB12CDE", "ada@example.invalid"):
        assert personal not in response.text


def test_create_off_grid_time_is_invalid_slot(sandbox: SandboxServer) -> None:
    response = _create(sandbox, _create_body("2027-01-12T10:30:00.000Z"))
    closed = _create(sandbox, _create_body("2027-01-17T10:00:00.000Z"))  # Sunday

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_SLOT"
    assert closed.json()["code"] == "INVALID_SLOT"


def test_concurrent_creates_never_overbook(sandbox: SandboxServer) -> None:
    requests.put(
        sandbox.url + "/_sandbox/stores/ENT-9/STORE-9", json={"capacity": 3}, timeout=TIMEOUT
    ).raise_for_status()
    headers = _headers(sandbox)
    statuses: list[int] = []
    lock = threading.Lock()

    def book(n: int) -> None:
        body = _create_body("2027-01-12T09:00:00.000Z", f"op-{n}")
        status = _create(sandbox, body, ("ENT-9", "STORE-9"), headers).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=book, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] * 3 + [409] * 17
    assert len(_get_json(sandbox, "/_sandbox/appointments?status=BOOKED")["appointments"]) == 3


def test_cancel_frees_capacity(sandbox: SandboxServer) -> None:
    due_in = "2027-01-12T11:00:00.000Z"
    headers = _headers(sandbox)
    created = _create(sandbox, _create_body(due_in), headers=headers).json()
    url = f"{_base(sandbox)}/{created['appointmentId']}"
    elsewhere = f"{_base(sandbox, DUBLIN)}/{created['appointmentId']}"

    wrong_store = requests.delete(elsewhere, headers=headers, timeout=TIMEOUT)
    first = requests.delete(url, headers=headers, timeout=TIMEOUT)
    second = requests.delete(url, headers=headers, timeout=TIMEOUT)

    assert wrong_store.status_code == 404
    assert first.status_code == 204
    assert first.content == b""
    assert second.status_code == 404
    assert second.json()["code"] == "APPOINTMENT_NOT_FOUND"
    assert _capacity_at(_availability(sandbox, WINTER_DAY), due_in) == 2
    listed = _get_json(sandbox, "/_sandbox/appointments")["appointments"]
    assert [(a["status"], a["cancelledAt"] is not None) for a in listed] == [("CANCELLED", True)]
    assert _get_json(sandbox, "/_sandbox/appointments?status=BOOKED") == {"appointments": []}


# Faults, latency, the request log and reset


def test_status_fault_is_consumed_once_in_fifo_order(sandbox: SandboxServer) -> None:
    headers = _headers(sandbox)
    _fault(sandbox, endpoint="availability", status=503, headers={"Retry-After": "1"})
    _fault(sandbox, endpoint="availability", status=429, body={"custom": True})

    first = _availability(sandbox, WINTER_DAY, headers=headers)
    second = _availability(sandbox, WINTER_DAY, headers=headers)
    third = _availability(sandbox, WINTER_DAY, headers=headers)

    assert first.status_code == 503
    assert first.headers["Retry-After"] == "1"
    assert first.json()["fault"]["detail"]["errorcode"]
    assert second.status_code == 429
    assert second.json() == {"custom": True}
    assert third.status_code == 200
    assert _get_json(sandbox, "/_sandbox/faults") == {"faults": []}


def test_fault_count_and_clear(sandbox: SandboxServer) -> None:
    _fault(sandbox, endpoint="token", status=500, count=5)
    assert _token_response(sandbox).status_code == 500
    assert _get_json(sandbox, "/_sandbox/faults")["faults"][0]["count"] == 4

    requests.delete(sandbox.url + "/_sandbox/faults", timeout=TIMEOUT).raise_for_status()

    assert _token_response(sandbox).status_code == 200


def test_stall_with_process_creates_the_appointment(sandbox: SandboxServer) -> None:
    headers = _headers(sandbox)
    _fault(sandbox, endpoint="create", stallSeconds=0.3, status=504, process=True)

    started = time.monotonic()
    response = _create(sandbox, _create_body("2027-01-12T12:00:00.000Z"), headers=headers)

    assert time.monotonic() - started >= 0.3
    assert response.status_code == 504
    assert len(_get_json(sandbox, "/_sandbox/appointments")["appointments"]) == 1
    assert _get_json(sandbox, "/_sandbox/requests")["requests"][-1]["status"] == 504


def test_bare_stall_is_slow_but_normal(sandbox: SandboxServer) -> None:
    headers = _headers(sandbox)
    _fault(sandbox, endpoint="create", stallSeconds=0.2)

    started = time.monotonic()
    response = _create(sandbox, _create_body("2027-01-12T12:00:00.000Z"), headers=headers)

    assert time.monotonic() - started >= 0.2
    assert response.status_code == 201


def test_drop_closes_the_connection(sandbox: SandboxServer) -> None:
    headers = _headers(sandbox)
    _fault(sandbox, endpoint="create", drop=True)
    _fault(sandbox, endpoint="create", drop=True, process=True)

    with pytest.raises(requests.ConnectionError):
        _create(sandbox, _create_body("2027-01-12T13:00:00.000Z", "op-lost"), headers=headers)
    assert _get_json(sandbox, "/_sandbox/appointments") == {"appointments": []}
    with pytest.raises(requests.ConnectionError):
        _create(sandbox, _create_body("2027-01-12T13:00:00.000Z", "op-made"), headers=headers)

    booked = _get_json(sandbox, "/_sandbox/appointments")["appointments"]
    assert [a["externalReference"] for a in booked] == ["op-made"]
    logged = _get_json(sandbox, "/_sandbox/requests")["requests"]
    assert [r["status"] for r in logged if r["endpoint"] == "create"] == ["dropped", "dropped"]


def test_request_log_counts_every_api_call(sandbox: SandboxServer) -> None:
    headers = {**_headers(sandbox), "correlation-id": "corr-42"}
    _availability(sandbox, WINTER_DAY, headers=headers)
    _availability(sandbox, WINTER_DAY, headers={})  # a 401 is logged too
    created = _create(sandbox, _create_body("2027-01-12T14:00:00.000Z"), headers=headers)
    url = f"{_base(sandbox)}/{created.json()['appointmentId']}"
    requests.delete(url, headers=headers, timeout=TIMEOUT)
    requests.get(sandbox.url + "/nowhere", timeout=TIMEOUT)
    _get_json(sandbox, "/_sandbox/health")  # control calls are not logged

    log = _get_json(sandbox, "/_sandbox/requests")

    assert log["counts"] == {"token": 1, "availability": 2, "create": 1, "cancel": 1, "other": 1}
    assert [r["seq"] for r in log["requests"]] == [1, 2, 3, 4, 5, 6]
    assert [r["status"] for r in log["requests"]] == [200, 200, 401, 201, 204, 404]
    availability = log["requests"][1]
    assert availability["endpoint"] == "availability"
    assert availability["method"] == "POST"
    assert availability["path"] == "/appointment/ENT-1001/STORE-01/v1/appointments/availability"
    assert availability["correlationId"] == "corr-42"
    assert log["requests"][2]["correlationId"] is None
    assert "access_token" not in str(log)


def test_latency_is_added_to_api_calls(sandbox: SandboxServer) -> None:
    headers = _headers(sandbox)
    _post(sandbox, "/_sandbox/latency", json={"ms": 150}).raise_for_status()

    started = time.monotonic()
    response = _availability(sandbox, WINTER_DAY, headers=headers)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.15


def test_stores_can_be_added_and_listed(sandbox: SandboxServer) -> None:
    store = {
        "timezone": "Europe/Dublin",
        "open": "09:00",
        "close": "12:00",
        "weekdays": [1],
        "slotMinutes": 90,
        "capacity": 4,
        "serviceProducts": [MOT],
        "localTimes": False,
    }
    put = requests.put(sandbox.url + "/_sandbox/stores/ENT%2F3/S-3", json=store, timeout=TIMEOUT)
    slots = _availability(
        sandbox,
        SUMMER_DAY,
        ("ENT%2F3", "S-3"),
        serviceProducts=[{"serviceProductId": MOT}],
        enterpriseId="ENT/3",
    )

    assert put.status_code == 200
    assert put.json()["enterpriseId"] == "ENT/3"  # path segments are percent-decoded
    assert [(s["dueInDateTime"], s["capacity"]) for s in slots.json()["availableSlots"]] == [
        ("2027-07-13T08:00:00.000Z", 4),
        ("2027-07-13T09:30:00.000Z", 4),
    ]
    ids = [
        (s["enterpriseId"], s["storeId"]) for s in _get_json(sandbox, "/_sandbox/stores")["stores"]
    ]
    assert ids == [LONDON, DUBLIN, ("ENT/3", "S-3")]
    bad = requests.put(
        sandbox.url + "/_sandbox/stores/E/S", json={"timezone": "Mars/Base"}, timeout=TIMEOUT
    )
    assert bad.status_code == 400


def test_reset_restores_startup_state(sandbox: SandboxServer) -> None:
    _create(sandbox, _create_body("2027-01-12T15:00:00.000Z"))
    _post(sandbox, "/_sandbox/latency", json={"ms": 5}).raise_for_status()
    _post(sandbox, "/_sandbox/config", json={"tokenType": "Bearer"}).raise_for_status()
    _fault(sandbox, endpoint="cancel", status=500)
    requests.put(sandbox.url + "/_sandbox/stores/E/S", json={}, timeout=TIMEOUT)

    _post(sandbox, "/_sandbox/reset").raise_for_status()

    assert _get_json(sandbox, "/_sandbox/appointments") == {"appointments": []}
    assert _get_json(sandbox, "/_sandbox/requests")["requests"] == []
    assert _get_json(sandbox, "/_sandbox/faults") == {"faults": []}
    assert len(_get_json(sandbox, "/_sandbox/stores")["stores"]) == 2
    config = _get_json(sandbox, "/_sandbox/config")
    assert (config["tokenType"], config["latencyMs"]) == ("BearerToken", 0)
    assert _get_json(sandbox, "/_sandbox/health") == {"ok": True}


def test_control_rejects_malformed_bodies(sandbox: SandboxServer) -> None:
    assert _post(sandbox, "/_sandbox/faults", data="{").status_code == 400
    assert _post(sandbox, "/_sandbox/faults", json={"endpoint": "create"}).status_code == 400
    assert (
        _post(sandbox, "/_sandbox/faults", json={"endpoint": "x", "status": 500}).status_code == 400
    )
    assert _post(sandbox, "/_sandbox/config", json={"tokenTypo": "x"}).status_code == 400


def test_module_entry_point_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "keyloop_sandbox", "--port", "0", "--latency-ms", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("Keyloop sandbox listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert requests.get(url + "/_sandbox/health", timeout=TIMEOUT).json() == {"ok": True}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_booked_then_held_past_the_answer(sandbox: SandboxServer) -> None:
    """stallAfterProcessing: the booking is made at once, the answer comes late."""
    headers = _headers(sandbox)
    _fault(sandbox, endpoint="create", stallSeconds=0.4, stallAfterProcessing=True)
    with pytest.raises(requests.ReadTimeout):
        requests.post(
            _base(sandbox),
            json=_create_body("2027-01-12T14:00:00.000Z", "op-held"),
            headers=headers,
            timeout=(TIMEOUT, 0.2),
        )
    booked = _get_json(sandbox, "/_sandbox/appointments")["appointments"]
    assert [a["externalReference"] for a in booked] == ["op-held"]


def test_raw_body_is_sent_as_it_is(sandbox: SandboxServer) -> None:
    headers = _headers(sandbox)
    _fault(sandbox, endpoint="create", status=201, rawBody="<html>OK</html>", process=True)
    response = _create(
        sandbox, _create_body("2027-01-12T15:00:00.000Z", "op-html"), headers=headers
    )
    assert response.status_code == 201
    assert response.text == "<html>OK</html>"
    assert response.headers["Content-Type"].startswith("text/html")
    assert len(_get_json(sandbox, "/_sandbox/appointments")["appointments"]) == 1
    bad = _post(
        sandbox, "/_sandbox/faults", json={"endpoint": "create", "status": 201, "rawBody": 3}
    )
    assert bad.status_code == 400
