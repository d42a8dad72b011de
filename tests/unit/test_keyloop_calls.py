"""API calls: 401 refresh-once, retry rules per call, Retry-After, fault mapping, path safety."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError

from keyloop import (
    KeyloopAuthenticationError,
    KeyloopBadResponseError,
    KeyloopClient,
    KeyloopConflictError,
    KeyloopCredentialsUnavailableError,
    KeyloopError,
    KeyloopGatewayNotFoundError,
    KeyloopIndeterminateError,
    KeyloopInvalidRequestError,
    KeyloopNotEntitledError,
    KeyloopNotFoundError,
    KeyloopRateLimitedError,
    KeyloopRejectedError,
    KeyloopSettings,
    KeyloopTimeoutError,
    KeyloopUnavailableError,
    NewAppointment,
    Store,
)
from tests.unit.support import (
    APPTS,
    BASE,
    SECRET,
    STORE,
    TOKEN,
    TOKEN_URL,
    bearer_of,
    sent,
    token_body,
)

DAY = date(2027, 1, 12)
AVAIL = f"{APPTS}/availability"
SLOT = datetime(2027, 1, 12, 9, 0, tzinfo=UTC)
INVALID_TOKEN = {
    "fault": {
        "faultstring": "Invalid Access Token",
        "detail": {"errorcode": "keymanagement.service.invalid_access_token"},
    }
}
EXPIRED_TOKEN = {
    "fault": {
        "faultstring": "Access Token expired",
        "detail": {"errorcode": "keymanagement.service.access_token_expired"},
    }
}
NOT_ENTITLED = {
    "fault": {
        "faultstring": "Invalid API call as no apiproduct match found",
        "detail": {"errorcode": "keymanagement.service.InvalidAPICallAsNoApiProductMatchFound"},
    }
}
SPIKE = {
    "fault": {
        "faultstring": "Spike arrest violation",
        "detail": {"errorcode": "policies.ratelimit.SpikeArrestViolation"},
    }
}
CREATED = {
    "appointmentId": "a1b2c3",
    "details": {
        "appointmentReference": "KL-123456",
        "dueInDateTime": "2027-01-12T09:00:00.000Z",
        "dueOutDateTime": "2027-01-12T10:00:00.000Z",
    },
}


def _new_appointment(**overrides: object) -> NewAppointment:
    values: dict[str, object] = {
        "external_reference": "op-1",
        "due_in": SLOT,
        "service_product_ids": ("svc-1",),
        "given_name": "Ada",
        "family_name": "Lovelace",
        "license_plate": "AB12CDE",
        "email": "ada@example.com",
        "mobile": "+447700900123",
    }
    values.update(overrides)
    return NewAppointment(**values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _token(rsps: responses.RequestsMock) -> None:
    rsps.post(TOKEN_URL, json=token_body())


# -- 401 handling ------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [INVALID_TOKEN, EXPIRED_TOKEN, None])
def test_token_401_refreshes_once_and_retries(
    rsps: responses.RequestsMock, client: KeyloopClient, fault: object
) -> None:
    rsps.post(AVAIL, status=401, json=fault)
    rsps.post(AVAIL, json={"availableSlots": [{"dueInDateTime": "2027-01-12T09:00:00Z"}]})
    rsps.post(TOKEN_URL, json=token_body("tok-fresh-AAAAAAAAAAAAAAAAAAA"))

    slots = client.availability(STORE, DAY, ["svc-1"])

    assert [s.start for s in slots] == [SLOT]
    assert len(sent(rsps, "/oauth/")) == 2
    calls = sent(rsps, "/availability")
    assert [bearer_of(r) for r in calls] == [TOKEN, "tok-fresh-AAAAAAAAAAAAAAAAAAA"]
    # One logical call: one correlation id across the retry.
    assert calls[0].headers["correlation-id"] == calls[1].headers["correlation-id"]


def test_second_401_is_authentication_error(
    rsps: responses.RequestsMock, client: KeyloopClient
) -> None:
    rsps.post(AVAIL, status=401, json=INVALID_TOKEN)
    with pytest.raises(KeyloopAuthenticationError) as info:
        client.availability(STORE, DAY, ["svc-1"])
    assert info.value.fault_code == "keymanagement.service.invalid_access_token"
    assert len(sent(rsps, "/availability")) == 2
    assert len(sent(rsps, "/oauth/")) == 2


def test_not_entitled_is_not_retried(rsps: responses.RequestsMock, client: KeyloopClient) -> None:
    rsps.post(AVAIL, status=401, json=NOT_ENTITLED)
    with pytest.raises(KeyloopNotEntitledError):
        client.availability(STORE, DAY, ["svc-1"])
    assert len(sent(rsps, "/availability")) == 1
    assert len(sent(rsps, "/oauth/")) == 1


# -- retry rules per call ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_availability_retries_transient_statuses(
    rsps: responses.RequestsMock, client: KeyloopClient, sleeps: list[float], status: int
) -> None:
    rsps.post(AVAIL, status=status, json={})
    rsps.post(AVAIL, json={"slots": []})
    assert client.availability(STORE, DAY, ["svc-1"]) == []
    assert len(sent(rsps, "/availability")) == 2


def test_availability_gives_up_after_max_retries(
    rsps: responses.RequestsMock, client: KeyloopClient, sleeps: list[float]
) -> None:
    rsps.post(AVAIL, status=503, json={})
    with pytest.raises(KeyloopUnavailableError) as info:
        client.availability(STORE, DAY, ["svc-1"])
    assert info.value.status == 503
    assert len(sent(rsps, "/availability")) == 3  # first try + max_retries (2)


def test_token_endpoint_retried_on_503(
    rsps: responses.RequestsMock, client: KeyloopClient, sleeps: list[float]
) -> None:
    rsps.replace(responses.POST, TOKEN_URL, status=503, json={})
    rsps.add(responses.POST, TOKEN_URL, json=token_body())
    rsps.post(AVAIL, json=[])
    assert client.availability(STORE, DAY, ["svc-1"]) == []
    assert len(sent(rsps, "/oauth/")) == 2


def test_cancel_retried_on_503_and_404_is_done(
    rsps: responses.RequestsMock, client: KeyloopClient, sleeps: list[float]
) -> None:
    rsps.delete(f"{APPTS}/appt-1", status=503, json={})
    rsps.delete(f"{APPTS}/appt-1", status=204)
    client.cancel_appointment(STORE, "appt-1")
    rsps.delete(f"{APPTS}/appt-2", status=404, json={"code": "APPOINTMENT_NOT_FOUND"})
    client.cancel_appointment(STORE, "appt-2")
    assert len(sent(rsps, "/appt-1")) == 2
    assert len(sent(rsps, "/appt-2")) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, KeyloopUnavailableError),
        (502, KeyloopIndeterminateError),  # the gateway lost the DMS's answer
        (503, KeyloopUnavailableError),
        (504, KeyloopIndeterminateError),
    ],
)
def test_create_is_not_retried_on_5xx(
    rsps: responses.RequestsMock,
    client: KeyloopClient,
    sleeps: list[float],
    status: int,
    error: type[KeyloopError],
) -> None:
    rsps.post(APPTS, status=status, json={}, headers={"Retry-After": "1"})
    rsps.post(APPTS, status=201, json=CREATED)
    with pytest.raises(error):
        client.create_appointment(STORE, _new_appointment())
    assert len([r for r in sent(rsps, APPTS) if r.url == APPTS]) == 1


# `responses` replays urllib3's retry decisions but never sleeps: how long we wait on
# Retry-After is asserted against the sandbox, over real sockets (tests/integration).


def test_create_retried_on_429(
    rsps: responses.RequestsMock, client: KeyloopClient, sleeps: list[float]
) -> None:
    rsps.post(APPTS, status=429, json=SPIKE, headers={"Retry-After": "2"})
    rsps.post(APPTS, status=201, json=CREATED)
    appointment = client.create_appointment(STORE, _new_appointment())
    assert appointment.appointment_id == "a1b2c3"
    assert appointment.reference == "KL-123456"
    assert appointment.due_in == SLOT
    bodies = [json.loads(r.body or b"{}") for r in sent(rsps, APPTS) if r.url == APPTS]
    assert len(bodies) == 2


def test_rate_limit_after_retries_carries_retry_after(
    rsps: responses.RequestsMock, client: KeyloopClient, sleeps: list[float]
) -> None:
    rsps.post(AVAIL, status=429, json=SPIKE, headers={"Retry-After": "1"})
    with pytest.raises(KeyloopRateLimitedError) as info:
        client.availability(STORE, DAY, ["svc-1"])
    assert info.value.retry_after == 1.0
    assert info.value.fault_code == "policies.ratelimit.SpikeArrestViolation"


def test_create_read_timeout_is_indeterminate(
    rsps: responses.RequestsMock, client: KeyloopClient
) -> None:
    rsps.post(APPTS, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(KeyloopIndeterminateError) as info:
        client.create_appointment(STORE, _new_appointment())
    assert info.value.correlation_id


def test_create_connection_refused_is_unavailable(
    rsps: responses.RequestsMock, client: KeyloopClient
) -> None:
    refused = NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    error = requests.exceptions.ConnectionError(MaxRetryError(None, APPTS, refused))  # type: ignore[arg-type]
    rsps.post(APPTS, body=error)
    with pytest.raises(KeyloopUnavailableError):
        client.create_appointment(STORE, _new_appointment())


def test_create_connection_lost_after_sending_is_indeterminate(
    rsps: responses.RequestsMock, client: KeyloopClient
) -> None:
    rsps.post(APPTS, body=requests.exceptions.ConnectionError("Connection aborted."))
    with pytest.raises(KeyloopIndeterminateError):
        client.create_appointment(STORE, _new_appointment())


def test_availability_read_timeout_is_timeout(
    rsps: responses.RequestsMock, client: KeyloopClient
) -> None:
    rsps.post(AVAIL, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(KeyloopTimeoutError):
        client.availability(STORE, DAY, ["svc-1"])


# -- fault shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (400, {"code": "VALIDATION", "message": "x"}, KeyloopRejectedError, "VALIDATION"),
        (404, {"code": "APPOINTMENT_NOT_FOUND"}, KeyloopNotFoundError, "APPOINTMENT_NOT_FOUND"),
        (409, {"code": "SLOT_UNAVAILABLE"}, KeyloopConflictError, "SLOT_UNAVAILABLE"),
        (422, {}, KeyloopRejectedError, None),
        (403, SPIKE, KeyloopRateLimitedError, "policies.ratelimit.SpikeArrestViolation"),
        (403, {}, KeyloopNotEntitledError, None),
        (
            500,
            {
                "fault": {
                    "faultstring": "Quota",
                    "detail": {"errorcode": "policies.ratelimit.QuotaViolation"},
                }
            },
            KeyloopRateLimitedError,
            "policies.ratelimit.QuotaViolation",
        ),
        (401, NOT_ENTITLED, KeyloopNotEntitledError, None),
    ],
)
def test_fault_shapes_map_to_errors(
    rsps: responses.RequestsMock,
    client: KeyloopClient,
    status: int,
    body: object,
    error: type[KeyloopError],
    code: str | None,
) -> None:
    rsps.post(APPTS, status=status, json=body)
    with pytest.raises(error) as info:
        client.create_appointment(STORE, _new_appointment())
    assert info.value.status == status
    if code is not None:
        assert info.value.fault_code == code
    assert info.value.correlation_id


def test_conflict_is_a_rejection() -> None:
    assert issubclass(KeyloopConflictError, KeyloopRejectedError)
    assert issubclass(KeyloopNotFoundError, KeyloopRejectedError)


def test_created_without_appointment_id_is_indeterminate(
    rsps: responses.RequestsMock, client: KeyloopClient
) -> None:
    rsps.post(APPTS, status=201, json={"details": {}})
    with pytest.raises(KeyloopIndeterminateError):
        client.create_appointment(STORE, _new_appointment())


def test_availability_not_json_is_bad_response(
    rsps: responses.RequestsMock, client: KeyloopClient
) -> None:
    rsps.post(AVAIL, body="<html>oops</html>")
    with pytest.raises(KeyloopBadResponseError):
        client.availability(STORE, DAY, ["svc-1"])


# -- request shape and path safety -------------------------------------------------------------


def test_headers_on_api_calls(rsps: responses.RequestsMock, client: KeyloopClient) -> None:
    rsps.post(AVAIL, json=[])
    client.availability(STORE, DAY, ["svc-1"], "opt-1")
    client.availability(STORE, DAY, ["svc-1"])
    first, second = sent(rsps, "/availability")
    assert first.headers["Accept"] == "application/json"
    assert first.headers["Accept-Language"] == "en-GB"
    assert "visn" in str(first.headers["User-Agent"])
    assert first.headers["correlation-id"] != second.headers["correlation-id"]
    assert json.loads(first.body or b"") == {
        "enterpriseId": "ENT-1",
        "storeId": "STORE-1",
        "date": "2027-01-12",
        "serviceProducts": [{"serviceProductId": "svc-1"}],
        "bookingOption": {"appointmentOptionId": "opt-1"},
    }
    assert "bookingOption" not in json.loads(second.body or b"")


def test_create_body(rsps: responses.RequestsMock, client: KeyloopClient) -> None:
    rsps.post(APPTS, status=201, json=CREATED)
    client.create_appointment(
        STORE, _new_appointment(mileage_value=42000, mileage_unit="MI", vin="WVWZZZ1JZXW000001")
    )
    (request,) = [r for r in sent(rsps, APPTS) if r.url == APPTS]
    body = json.loads(request.body or b"")
    assert body["details"] == {
        "externalReference": "op-1",
        "dueInDateTime": "2027-01-12T09:00:00.000Z",
    }
    assert body["customer"] == {
        "names": {"givenName": "Ada", "familyName": "Lovelace"},
        "contactInformation": {"email": "ada@example.com", "mobile": "+447700900123"},
    }
    assert body["vehicle"] == {
        "identification": {"licensePlate": "AB12CDE", "vin": "WVWZZZ1JZXW000001"},
        "mileage": {"unit": "MI", "value": 42000},
    }
    assert body["serviceProducts"] == [{"serviceProductId": "svc-1"}]


def test_local_time_store_writes_wall_clock_with_z(
    rsps: responses.RequestsMock, client: KeyloopClient
) -> None:
    london = ZoneInfo("Europe/London")
    store = Store("ENT-1", "STORE-1", local_time_zone=london)
    rsps.post(
        APPTS, status=201, json={**CREATED, "details": {"dueInDateTime": "2027-07-13T09:00:00Z"}}
    )
    summer = datetime(2027, 7, 13, 8, 0, tzinfo=UTC)  # 09:00 BST
    appointment = client.create_appointment(store, _new_appointment(due_in=summer))
    (request,) = [r for r in sent(rsps, APPTS) if r.url == APPTS]
    assert json.loads(request.body or b"")["details"]["dueInDateTime"] == "2027-07-13T09:00:00.000Z"
    assert appointment.due_in == summer


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "..", "a b", "x?y=1", "%2e%2e", "é"])
def test_path_injection_refused_before_sending(
    rsps: responses.RequestsMock, client: KeyloopClient, bad: str
) -> None:
    with pytest.raises(KeyloopInvalidRequestError):
        client.cancel_appointment(STORE, bad)
    with pytest.raises(KeyloopInvalidRequestError):
        client.availability(Store(bad, "STORE-1"), DAY, ["svc-1"])
    assert len(rsps.calls) == 0


def test_no_token_or_secret_in_any_error_text(
    rsps: responses.RequestsMock, client: KeyloopClient, sleeps: list[float]
) -> None:
    cases = [(401, INVALID_TOKEN), (401, NOT_ENTITLED), (409, {}), (503, {}), (400, {})]
    texts: list[str] = []
    for status, body in cases:
        rsps.upsert(responses.POST, AVAIL, status=status, json=body)
        with pytest.raises(KeyloopError) as info:
            client.availability(STORE, DAY, ["svc-1"])
        texts += [str(info.value), repr(info.value), info.value.message]
    for text in texts:
        assert TOKEN not in text
        assert SECRET not in text
        assert "tok-" not in text


def test_read_timeouts_after_retries_are_still_timeouts(
    rsps: responses.RequestsMock, client: KeyloopClient
) -> None:
    # Once urllib3's read retries are spent, requests raises ConnectionError(MaxRetryError).
    spent = MaxRetryError(None, AVAIL, ReadTimeoutError(None, AVAIL, "timed out"))  # type: ignore[arg-type]
    rsps.post(AVAIL, body=requests.exceptions.ConnectionError(spent))
    with pytest.raises(KeyloopTimeoutError):
        client.availability(STORE, DAY, ["svc-1"])
    rsps.post(APPTS, body=requests.exceptions.ConnectionError(spent))
    with pytest.raises(KeyloopIndeterminateError):
        client.create_appointment(STORE, _new_appointment())


# -- ambiguous answers (issue 10): what may have happened is never read as "nothing happened" --

GATEWAY_404 = {
    "fault": {
        "faultstring": "Application not found",
        "detail": {"errorcode": "messaging.adaptors.http.flow.ApplicationNotFound"},
    }
}
NO_PROXY_404 = {
    "fault": {
        "faultstring": "Unable to identify proxy for host: default and url: /x",
        "detail": {"errorcode": "classification.ApplicationNotFound"},
    }
}


@pytest.mark.parametrize(
    "response",
    [
        {"status": 404, "json": GATEWAY_404},
        {"status": 404, "json": NO_PROXY_404},
        {"status": 404, "body": "<html><body>Not Found</body></html>"},
    ],
    ids=["target-not-found", "no-proxy", "html"],
)
def test_cancel_404_that_is_not_the_appointment_apis_is_an_error(
    rsps: responses.RequestsMock, client: KeyloopClient, response: dict[str, Any]
) -> None:
    rsps.delete(f"{APPTS}/appt-9", **response)
    with pytest.raises(KeyloopUnavailableError) as raised:
        client.cancel_appointment(STORE, "appt-9")
    assert not isinstance(raised.value, KeyloopNotFoundError)


def test_gateway_404_reads_as_a_routing_fault_not_a_missing_resource(
    rsps: responses.RequestsMock, client: KeyloopClient
) -> None:
    rsps.post(AVAIL, status=404, json=GATEWAY_404)
    with pytest.raises(KeyloopGatewayNotFoundError) as raised:
        client.availability(STORE, DAY, ["svc-1"])
    assert raised.value.fault_code == "messaging.adaptors.http.flow.ApplicationNotFound"


@pytest.mark.parametrize(
    "response",
    [
        {"status": 201, "body": "<html>Created</html>"},
        {"status": 201, "body": ""},
        {"status": 200, "json": {"details": {}}},
        {"status": 201, "json": ["not", "an", "object"]},
    ],
    ids=["html", "empty", "no-id", "array"],
)
def test_create_2xx_without_a_usable_answer_is_an_unknown_outcome(
    rsps: responses.RequestsMock, client: KeyloopClient, response: dict[str, Any]
) -> None:
    rsps.post(APPTS, **response)
    with pytest.raises(KeyloopIndeterminateError):
        client.create_appointment(STORE, _new_appointment())
    assert len([r for r in sent(rsps, APPTS) if r.url == APPTS]) == 1


def test_a_failing_credentials_store_sends_nothing(rsps: responses.RequestsMock) -> None:
    class Refusing:
        def get(self) -> Any:
            raise PermissionError("secret manager said no")

        def refresh(self) -> bool:
            return False

    refusing = KeyloopClient(KeyloopSettings(BASE), Refusing())
    try:
        with pytest.raises(KeyloopCredentialsUnavailableError):
            refusing.create_appointment(STORE, _new_appointment())
    finally:
        refusing.close()
    assert len(rsps.calls) == 0
