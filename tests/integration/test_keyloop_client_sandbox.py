"""The Keyloop client against the Keyloop sandbox, over real sockets.

Every test checks what the sandbox really saw (its request log, its diary), not only what the
client returned. The sandbox is reset before each test; dates are in 2027 so nothing is past.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from keyloop import (
    KeyloopAuthenticationError,
    KeyloopClient,
    KeyloopConflictError,
    KeyloopError,
    KeyloopIndeterminateError,
    KeyloopInvalidRequestError,
    KeyloopNotEntitledError,
    KeyloopSettings,
    KeyloopTimeoutError,
    KeyloopUnavailableError,
    NewAppointment,
    Slot,
    StaticCredentials,
    Store,
)
from keyloop_sandbox import SandboxServer, start_sandbox
from keyloop_sandbox.config import SERVICE_PRODUCT_IDS

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"
SERVICE = SERVICE_PRODUCT_IDS[0]
UTC_STORE = Store("ENT-1001", "STORE-01")  # Europe/London, 08:00-17:00, real UTC on the wire
DUBLIN = ZoneInfo("Europe/Dublin")
LOCAL_STORE = Store("ENT-2002", "STORE-07", local_time_zone=DUBLIN)  # 07:30, local "Z" times
WINTER_DAY = date(2027, 1, 12)  # a Tuesday, GMT
SUMMER_DAY = date(2027, 7, 13)  # a Tuesday, BST / IST
WINTER_09_UTC = datetime(2027, 1, 12, 9, 0, tzinfo=UTC)  # a slot start of UTC_STORE
TIMEOUT = 5.0


# Fixtures


@pytest.fixture
def sandbox(keyloop_sandbox_reset: SandboxServer) -> SandboxServer:
    return keyloop_sandbox_reset


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[KeyloopClient]:
    c = _client(sandbox.url)
    yield c
    c.close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """urllib3's retry sleeps, recorded instead of slept (the client runs in this process)."""
    slept: list[float] = []
    monkeypatch.setattr("urllib3.util.retry.time.sleep", slept.append)
    return slept


# Helpers


def _client(base_url: str, secret: str = CLIENT_SECRET, **settings: Any) -> KeyloopClient:
    return KeyloopClient(
        KeyloopSettings(base_url, backoff_factor=0.01, backoff_jitter=0.0, **settings),
        StaticCredentials(CLIENT_ID, secret),
    )


def _control(sandbox: SandboxServer, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(
        method, f"{sandbox.url}/_sandbox/{path}", json=body, timeout=TIMEOUT
    )
    response.raise_for_status()
    return response.json()


def _fault(sandbox: SandboxServer, endpoint: str, **fields: Any) -> None:
    _control(sandbox, "POST", "faults", {"endpoint": endpoint, **fields})


def _requests(sandbox: SandboxServer, endpoint: str | None = None) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = _control(sandbox, "GET", "requests")["requests"]
    return [e for e in entries if endpoint is None or e["endpoint"] == endpoint]


def _counts(sandbox: SandboxServer) -> dict[str, int]:
    counts: dict[str, int] = _control(sandbox, "GET", "requests")["counts"]
    return counts


def _appointments(sandbox: SandboxServer, status: str | None = None) -> list[dict[str, Any]]:
    path = "appointments" if status is None else f"appointments?status={status}"
    appointments: list[dict[str, Any]] = _control(sandbox, "GET", path)["appointments"]
    return appointments


def _booking(reference: str, due_in: datetime = WINTER_09_UTC) -> NewAppointment:
    return NewAppointment(
        external_reference=reference,
        due_in=due_in,
        service_product_ids=(SERVICE,),
        given_name="Ada",
        family_name="Lovelace",
        license_plate="AB12 CDE",
        email="ada@example.invalid",
    )


def _availability(client: KeyloopClient, store: Store = UTC_STORE) -> list[Slot]:
    return client.availability(store, WINTER_DAY, [SERVICE])


def _wait_until_answered(sandbox: SandboxServer, seconds: float = 3.0) -> None:
    """Wait for stalled sandbox requests to finish, so none outlives its test."""
    deadline = time.monotonic() + seconds
    while any(e["status"] == "stalled" for e in _requests(sandbox)):
        assert time.monotonic() < deadline, "sandbox requests still stalled"
        time.sleep(0.05)


def _call(client: KeyloopClient, endpoint: str) -> None:
    if endpoint == "availability":
        _availability(client)
    else:
        client.cancel_appointment(UTC_STORE, "no-such-appointment")


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# 1. Token: one fetch shared by concurrent callers


def test_fifty_concurrent_calls_share_one_token_fetch(
    sandbox: SandboxServer, client: KeyloopClient
) -> None:
    _control(sandbox, "POST", "latency", {"ms": 50})  # the token fetch is in flight meanwhile
    n = 50
    barrier = threading.Barrier(n)
    results: list[list[Slot]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def call() -> None:
        barrier.wait(timeout=TIMEOUT)
        try:
            slots = _availability(client)
        except BaseException as exc:  # collected and asserted below
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(slots)

    threads = [threading.Thread(target=call) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert errors == []
    assert len(results) == n
    assert all(slots == results[0] and slots for slots in results)
    log = _requests(sandbox)
    assert _counts(sandbox)["token"] == 1
    assert _counts(sandbox)["availability"] == n
    assert log[0]["endpoint"] == "token"
    assert {e["status"] for e in log} == {200}


# 2-5. Token expiry, token types, bad credentials, entitlement


def test_expired_token_is_refreshed_once_and_the_call_repeated(
    sandbox: SandboxServer, client: KeyloopClient
) -> None:
    client.cancel_appointment(UTC_STORE, "no-such-appointment")  # warms the token (404 = done)
    assert _control(sandbox, "POST", "tokens/expire") == {"expired": 1}

    slots = _availability(client)

    assert slots[0].start == datetime(2027, 1, 12, 8, 0, tzinfo=UTC)
    counts = _counts(sandbox)
    assert (counts["token"], counts["availability"]) == (2, 2)
    log = _requests(sandbox)
    assert [(e["endpoint"], e["status"]) for e in log] == [
        ("token", 200),
        ("cancel", 404),
        ("availability", 401),
        ("token", 200),
        ("availability", 200),
    ]
    first, second = _requests(sandbox, "availability")
    assert first["correlationId"] == second["correlationId"]
    assert first["correlationId"] != log[1]["correlationId"]


def test_token_type_bearer_is_accepted(sandbox: SandboxServer, client: KeyloopClient) -> None:
    assert _control(sandbox, "POST", "config", {"tokenType": "Bearer"})["tokenType"] == "Bearer"

    assert _availability(client)

    assert [(e["endpoint"], e["status"]) for e in _requests(sandbox)] == [
        ("token", 200),
        ("availability", 200),
    ]


def test_wrong_client_secret_is_an_authentication_error_without_the_secret(
    sandbox: SandboxServer,
) -> None:
    secret = "wrong-secret-4f9a2c"
    bad = _client(sandbox.url, secret=secret)
    try:
        with pytest.raises(KeyloopAuthenticationError) as caught:
            _availability(bad)
    finally:
        bad.close()

    error = caught.value
    assert error.status == 401
    for text in (str(error), repr(error), *map(str, error.args)):
        assert secret not in text
        assert CLIENT_SECRET not in text
    assert [(e["endpoint"], e["status"]) for e in _requests(sandbox)] == [("token", 401)]


def test_not_entitled_client_fails_without_a_refresh_retry(
    sandbox: SandboxServer, client: KeyloopClient
) -> None:
    _control(sandbox, "POST", "config", {"notEntitledClients": [CLIENT_ID]})

    with pytest.raises(KeyloopNotEntitledError) as caught:
        _availability(client)

    assert caught.value.status == 401
    assert [(e["endpoint"], e["status"]) for e in _requests(sandbox)] == [
        ("token", 200),
        ("availability", 401),
    ]


# 6. Retries per operation


def test_availability_503_once_is_retried(sandbox: SandboxServer, client: KeyloopClient) -> None:
    _fault(sandbox, "availability", status=503)

    assert _availability(client)

    statuses = [e["status"] for e in _requests(sandbox, "availability")]
    assert statuses == [503, 200]
    assert len({e["correlationId"] for e in _requests(sandbox, "availability")}) == 1


def test_token_503_once_is_retried(sandbox: SandboxServer, client: KeyloopClient) -> None:
    _fault(sandbox, "token", status=503)

    assert _availability(client)

    assert [e["status"] for e in _requests(sandbox, "token")] == [503, 200]
    assert [e["status"] for e in _requests(sandbox, "availability")] == [200]


def test_cancel_503_once_is_retried(sandbox: SandboxServer, client: KeyloopClient) -> None:
    booked = client.create_appointment(UTC_STORE, _booking("op-cancel-503"))
    _fault(sandbox, "cancel", status=503)

    client.cancel_appointment(UTC_STORE, booked.appointment_id)

    assert [e["status"] for e in _requests(sandbox, "cancel")] == [503, 204]
    (appointment,) = _appointments(sandbox)
    assert appointment["status"] == "CANCELLED"


def test_create_503_is_not_retried(sandbox: SandboxServer, client: KeyloopClient) -> None:
    _fault(sandbox, "create", status=503)

    with pytest.raises(KeyloopUnavailableError) as caught:
        client.create_appointment(UTC_STORE, _booking("op-create-503"))

    assert caught.value.status == 503
    assert [e["status"] for e in _requests(sandbox, "create")] == [503]
    assert _appointments(sandbox) == []


def test_create_429_with_retry_after_is_retried_once(
    sandbox: SandboxServer, client: KeyloopClient, sleeps: list[float]
) -> None:
    _fault(sandbox, "create", status=429, headers={"Retry-After": "1"})

    booked = client.create_appointment(UTC_STORE, _booking("op-create-429"))

    assert sleeps == [1.0]
    creates = _requests(sandbox, "create")
    assert [e["status"] for e in creates] == [429, 201]
    assert creates[0]["correlationId"] == creates[1]["correlationId"]
    (appointment,) = _appointments(sandbox, "BOOKED")
    assert appointment["appointmentId"] == booked.appointment_id
    assert appointment["externalReference"] == "op-create-429"
    assert len(_appointments(sandbox)) == 1


# 7. Retry-After honoured, and capped


def test_retry_after_is_honoured(
    sandbox: SandboxServer, client: KeyloopClient, sleeps: list[float]
) -> None:
    _fault(sandbox, "availability", status=429, headers={"Retry-After": "2"})

    assert _availability(client)

    assert sleeps == [2.0]
    assert [e["status"] for e in _requests(sandbox, "availability")] == [429, 200]


def test_retry_after_is_capped(sandbox: SandboxServer, sleeps: list[float]) -> None:
    capped = _client(sandbox.url, retry_after_max=5)
    _fault(sandbox, "availability", status=429, headers={"Retry-After": "3600"})
    try:
        assert _availability(capped)
    finally:
        capped.close()

    assert sleeps == [5.0]
    assert [e["status"] for e in _requests(sandbox, "availability")] == [429, 200]


# 8-10. Timeouts, dropped connections, refused connections


def test_create_past_the_read_timeout_is_indeterminate_and_never_repeated(
    sandbox: SandboxServer,
) -> None:
    impatient = _client(sandbox.url, read_timeout=0.5)
    _fault(sandbox, "create", stallSeconds=1.5, process=True)
    try:
        with pytest.raises(KeyloopIndeterminateError, match="no answer in time"):
            impatient.create_appointment(UTC_STORE, _booking("op-stalled"))
    finally:
        impatient.close()

    assert len(_requests(sandbox, "create")) == 1
    # The sandbox books once the stall is over: the outcome really was unknown to the client.
    deadline = time.monotonic() + 3.0
    appointments = _appointments(sandbox)
    while not appointments and time.monotonic() < deadline:
        time.sleep(0.05)
        appointments = _appointments(sandbox)
    assert [(a["status"], a["externalReference"]) for a in appointments] == [
        ("BOOKED", "op-stalled")
    ]
    assert len(_requests(sandbox, "create")) == 1


@pytest.mark.parametrize(("endpoint", "answer"), [("availability", 200), ("cancel", 404)])
def test_read_timeout_on_a_repeatable_call_is_a_timeout(
    sandbox: SandboxServer, endpoint: str, answer: int
) -> None:
    impatient = _client(sandbox.url, read_timeout=0.2)
    try:
        _availability(impatient)  # the token first, so only the call under test stalls
        _fault(sandbox, endpoint, stallSeconds=0.6, count=2)
        with pytest.raises(KeyloopError) as caught:
            _call(impatient, endpoint)
    finally:
        impatient.close()

    _wait_until_answered(sandbox)
    calls = _requests(sandbox, endpoint)
    assert [e["status"] for e in calls[-2:]] == [answer, answer]  # read retried once
    # Once urllib3's read retry is spent, requests raises ConnectionError(MaxRetryError(
    # ReadTimeoutError)), not ReadTimeout: the client must still call it a timeout.
    error = caught.value
    assert isinstance(error, KeyloopTimeoutError), f"{type(error).__name__}: {error}"
    assert "no answer in time" in str(error)


def test_create_with_a_dropped_connection_is_indeterminate(
    sandbox: SandboxServer, client: KeyloopClient
) -> None:
    _fault(sandbox, "create", drop=True)

    with pytest.raises(KeyloopIndeterminateError):
        client.create_appointment(UTC_STORE, _booking("op-dropped"))

    assert [e["status"] for e in _requests(sandbox, "create")] == ["dropped"]
    assert _appointments(sandbox) == []


def test_availability_with_a_dropped_connection_is_retried(
    sandbox: SandboxServer, client: KeyloopClient
) -> None:
    _fault(sandbox, "availability", drop=True)

    assert _availability(client)

    assert [e["status"] for e in _requests(sandbox, "availability")] == ["dropped", 200]


def test_refused_connection_is_unavailable_not_indeterminate() -> None:
    unreachable = _client(f"http://127.0.0.1:{_closed_port()}")
    try:
        with pytest.raises(KeyloopUnavailableError) as created:
            unreachable.create_appointment(UTC_STORE, _booking("op-refused"))
        with pytest.raises(KeyloopUnavailableError):
            _availability(unreachable)
    finally:
        unreachable.close()
    assert not isinstance(created.value, KeyloopIndeterminateError)


def test_create_refused_after_the_token_was_obtained_is_unavailable() -> None:
    # With a closed port from the start, the token fetch fails first. Here the create itself
    # meets the refused connection: a private sandbox issues the token, then goes away.
    private = start_sandbox()
    c = _client(private.url)
    try:
        assert _availability(c)
        private.close()
        with pytest.raises(KeyloopUnavailableError) as caught:
            c.create_appointment(UTC_STORE, _booking("op-refused-after-token"))
    finally:
        c.close()
        private.close()
    assert "keyloop create" in str(caught.value)
    assert private.state.appointments_json() == []


# 11. Create and cancel against the diary


def test_create_then_cancel(sandbox: SandboxServer, client: KeyloopClient) -> None:
    booked = client.create_appointment(UTC_STORE, _booking("op-create-cancel"))

    assert booked.due_in == WINTER_09_UTC
    assert booked.reference is not None
    assert [e["status"] for e in _requests(sandbox, "create")] == [201]
    (appointment,) = _appointments(sandbox)
    assert appointment["appointmentId"] == booked.appointment_id
    assert appointment["appointmentReference"] == booked.reference
    assert appointment["status"] == "BOOKED"
    assert appointment["externalReference"] == "op-create-cancel"
    sent = appointment["request"]
    assert sent["details"]["externalReference"] == "op-create-cancel"
    assert sent["details"]["dueInDateTime"] == "2027-01-12T09:00:00.000Z"
    assert sent["customer"]["names"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert sent["customer"]["contactInformation"] == {"email": "ada@example.invalid"}
    assert sent["vehicle"]["identification"]["licensePlate"] == "AB12 CDE"
    assert sent["serviceProducts"] == [{"serviceProductId": SERVICE}]

    client.cancel_appointment(UTC_STORE, booked.appointment_id)
    (appointment,) = _appointments(sandbox)
    assert appointment["status"] == "CANCELLED"

    client.cancel_appointment(UTC_STORE, booked.appointment_id)  # already gone: done
    assert [e["status"] for e in _requests(sandbox, "cancel")] == [204, 404]
    assert _appointments(sandbox, "CANCELLED") == [appointment]


def test_full_slot_is_a_conflict(sandbox: SandboxServer, client: KeyloopClient) -> None:
    store = Store("ENT-3003", "STORE-09")
    _control(sandbox, "PUT", "stores/ENT-3003/STORE-09", {"capacity": 1})
    first = client.create_appointment(store, _booking("op-first"))

    with pytest.raises(KeyloopConflictError) as caught:
        client.create_appointment(store, _booking("op-second"))

    assert caught.value.status == 409
    assert [e["status"] for e in _requests(sandbox, "create")] == [201, 409]
    booked = _appointments(sandbox, "BOOKED")
    assert [(a["appointmentId"], a["externalReference"]) for a in booked] == [
        (first.appointment_id, "op-first")
    ]
    assert len(_appointments(sandbox)) == 1


# 12. Time modes


@pytest.mark.parametrize(
    ("store", "day", "first_start"),
    [
        pytest.param(
            LOCAL_STORE, SUMMER_DAY, datetime(2027, 7, 13, 6, 30, tzinfo=UTC), id="local-summer"
        ),
        pytest.param(
            LOCAL_STORE, WINTER_DAY, datetime(2027, 1, 12, 7, 30, tzinfo=UTC), id="local-winter"
        ),
        pytest.param(
            UTC_STORE, WINTER_DAY, datetime(2027, 1, 12, 8, 0, tzinfo=UTC), id="utc-winter"
        ),
        pytest.param(
            UTC_STORE, SUMMER_DAY, datetime(2027, 7, 13, 7, 0, tzinfo=UTC), id="utc-summer"
        ),
    ],
)
def test_first_slot_is_the_right_instant(
    sandbox: SandboxServer,
    client: KeyloopClient,
    store: Store,
    day: date,
    first_start: datetime,
) -> None:
    slots = client.availability(store, day, [SERVICE])

    start = slots[0].start
    assert start.tzinfo is not None
    assert start == first_start
    if store.local_time_zone is not None:
        # Read as a UTC instant (issue 21: comparable in a repeated hour), 07:30 in Dublin.
        local = start.astimezone(DUBLIN)
        assert (local.hour, local.minute) == (7, 30)
    assert [e["status"] for e in _requests(sandbox, "availability")] == [200]


def test_create_on_a_local_times_store_books_the_local_slot(
    sandbox: SandboxServer, client: KeyloopClient
) -> None:
    due_in = datetime(2027, 7, 13, 7, 30, tzinfo=DUBLIN)

    booked = client.create_appointment(LOCAL_STORE, _booking("op-dublin", due_in))

    assert booked.due_in == due_in
    (appointment,) = _appointments(sandbox)
    assert appointment["request"]["details"]["dueInDateTime"] == "2027-07-13T07:30:00.000Z"
    assert appointment["dueInDateTime"] == "2027-07-13T07:30:00.000Z"
    remaining = client.availability(LOCAL_STORE, SUMMER_DAY, [SERVICE])
    assert remaining[0].start == datetime(2027, 7, 13, 8, 0, tzinfo=DUBLIN)  # 07:30 is full


# 13. Identifiers that would change the URL path


@pytest.mark.parametrize("appointment_id", ["../x", "a/b", "..", "%2e%2e", "x?y=1"])
def test_path_injection_is_refused_before_sending(
    sandbox: SandboxServer, client: KeyloopClient, appointment_id: str
) -> None:
    with pytest.raises(KeyloopInvalidRequestError):
        client.cancel_appointment(UTC_STORE, appointment_id)

    assert _requests(sandbox) == []


def test_store_id_injection_is_refused_before_sending(
    sandbox: SandboxServer, client: KeyloopClient
) -> None:
    with pytest.raises(KeyloopInvalidRequestError):
        _availability(client, Store("ENT-1001", "../STORE-01"))
    with pytest.raises(KeyloopError):
        client.create_appointment(Store("ENT/1001", "STORE-01"), _booking("op-bad-store"))

    assert _requests(sandbox) == []


# Single flight holds for failures too: the waiting callers share the one failed fetch.


def test_a_failed_token_fetch_is_shared_by_the_callers_waiting_for_it(
    sandbox: SandboxServer, client: KeyloopClient
) -> None:
    _control(sandbox, "POST", "latency", {"ms": 50})
    _fault(sandbox, "token", status=500, count=100)  # 500: not retried by the client
    n = 8
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def call() -> None:
        barrier.wait(timeout=TIMEOUT)
        try:
            _availability(client)
        except BaseException as exc:  # every call is expected to fail
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(errors) == n
    assert all(isinstance(e, KeyloopUnavailableError) for e in errors)
    assert _counts(sandbox)["availability"] == 0
    assert _counts(sandbox)["token"] == 1


@pytest.mark.parametrize("mode", ["basic", "form", "either"])
def test_a_tenant_set_up_either_way_gives_a_token(sandbox: SandboxServer, mode: str) -> None:
    _control(sandbox, "POST", "config", {"tokenAuth": mode})
    client = _client(sandbox.url)
    try:
        assert _availability(client) is not None
    finally:
        client.close()
    assert [r["status"] for r in _requests(sandbox, "token")] == [200]


def test_repair_order_read_back_follows_the_dealer(
    sandbox: SandboxServer, client: KeyloopClient
) -> None:
    booked = client.create_appointment(UTC_STORE, _booking("op-ro"))
    order = client.get_repair_order(UTC_STORE, booked.appointment_id)
    assert order is not None
    assert (order.status, order.due_in) == ("CREATED", WINTER_09_UTC)
    _control(sandbox, "POST", f"appointments/{booked.appointment_id}/cancel", {})
    cancelled = client.get_repair_order(UTC_STORE, booked.appointment_id)
    assert cancelled is not None
    assert cancelled.status == "CANCELLED"
    assert client.get_repair_order(UTC_STORE, "no-such-repair-order") is None
