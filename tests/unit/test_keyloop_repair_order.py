"""`get_repair_order`: the read-back of a booked appointment, its 404s, and its parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import responses

from keyloop import (
    KeyloopBadResponseError,
    KeyloopClient,
    KeyloopGatewayNotFoundError,
    KeyloopUnavailableError,
    RepairOrder,
    Store,
)
from keyloop.faults import is_gateway_fault
from keyloop.repair_orders import RepairOrderShapeError, parse_repair_order
from tests.unit.support import BASE, STORE, TOKEN, TOKEN_URL, bearer_of, sent, token_body

RO_URL = f"{BASE}/ENT-1/STORE-1/v1/repair-orders/appt-1"
BODY = {
    "repairOrderId": "appt-1",
    "status": "CREATED",
    "details": {"notes": "Customer: Ada Lovelace"},
    "appointment": {
        "dueInDateTime": "2027-01-12T09:00:00.000Z",
        "dueOutDateTime": "2027-01-12T10:00:00.000Z",
    },
    "jobs": [],
}
GATEWAY_404 = {
    "fault": {
        "faultstring": "Unable to identify proxy for host: default and url: /x",
        "detail": {"errorcode": "messaging.adaptors.http.flow.ApplicationNotFound"},
    }
}


def test_reads_the_repair_order_with_no_appointment_prefix(
    rsps: responses.RequestsMock, client: KeyloopClient
) -> None:
    rsps.post(TOKEN_URL, json=token_body())
    rsps.get(RO_URL, json=BODY)
    order = client.get_repair_order(STORE, "appt-1")
    assert order == RepairOrder(
        "appt-1",
        "CREATED",
        datetime(2027, 1, 12, 9, tzinfo=UTC),
        datetime(2027, 1, 12, 10, tzinfo=UTC),
    )
    (call,) = sent(rsps, "/repair-orders/")
    assert call.method == "GET"
    assert bearer_of(call) == TOKEN


def test_the_apis_own_404_means_no_such_repair_order(
    rsps: responses.RequestsMock, client: KeyloopClient
) -> None:
    rsps.post(TOKEN_URL, json=token_body())
    rsps.get(RO_URL, status=404, json={"code": "NOT_FOUND", "message": "No repair order"})
    assert client.get_repair_order(STORE, "appt-1") is None


@pytest.mark.parametrize(
    "code",
    ["messaging.adaptors.http.flow.ApplicationNotFound", "classification.ApplicationNotFound"],
)
def test_a_gateway_404_is_an_error_not_a_missing_repair_order(
    rsps: responses.RequestsMock, client: KeyloopClient, code: str
) -> None:
    body = {"fault": {"faultstring": "not found", "detail": {"errorcode": code}}}
    rsps.post(TOKEN_URL, json=token_body())
    rsps.get(RO_URL, status=404, json=body)
    with pytest.raises(KeyloopGatewayNotFoundError):
        client.get_repair_order(STORE, "appt-1")


def test_is_gateway_fault(rsps: responses.RequestsMock) -> None:
    import requests

    rsps.get(f"{BASE}/a", status=404, json=GATEWAY_404)
    rsps.get(f"{BASE}/b", status=404, json={"code": "NOT_FOUND", "message": "no"})
    rsps.get(f"{BASE}/c", status=404, body="not json")
    assert is_gateway_fault(requests.get(f"{BASE}/a", timeout=1))
    assert not is_gateway_fault(requests.get(f"{BASE}/b", timeout=1))
    assert not is_gateway_fault(requests.get(f"{BASE}/c", timeout=1))


def test_retried_like_the_other_reads(
    rsps: responses.RequestsMock, client: KeyloopClient, sleeps: list[float]
) -> None:
    rsps.post(TOKEN_URL, json=token_body())
    rsps.get(RO_URL, status=503, json={})
    rsps.get(RO_URL, json=BODY)
    assert client.get_repair_order(STORE, "appt-1") is not None
    assert len(sent(rsps, "/repair-orders/")) == 2


def test_a_404_that_is_not_the_apis_json_is_not_gone(
    rsps: responses.RequestsMock, client: KeyloopClient
) -> None:
    rsps.post(TOKEN_URL, json=token_body())
    rsps.get(RO_URL, status=404, body="<html>Not Found</html>")
    with pytest.raises(KeyloopGatewayNotFoundError):
        client.get_repair_order(STORE, "appt-1")


def test_a_body_not_understood_is_a_bad_response_and_is_not_logged(
    rsps: responses.RequestsMock, client: KeyloopClient, caplog: pytest.LogCaptureFixture
) -> None:
    rsps.post(TOKEN_URL, json=token_body())
    rsps.get(RO_URL, json={"status": "CREATED", "details": {"notes": "Ada Lovelace"}})
    with pytest.raises(KeyloopBadResponseError):
        client.get_repair_order(STORE, "appt-1")
    assert "Lovelace" not in caplog.text


def test_server_errors_are_unavailable(
    rsps: responses.RequestsMock, client: KeyloopClient, sleeps: list[float]
) -> None:
    rsps.post(TOKEN_URL, json=token_body())
    rsps.get(RO_URL, status=500, json={})
    with pytest.raises(KeyloopUnavailableError):
        client.get_repair_order(STORE, "appt-1")


def test_parsing_accepts_the_other_spelling_and_local_times() -> None:
    zone = ZoneInfo("Europe/Dublin")
    order = parse_repair_order(
        {
            "RepairOrderId": "x",
            "status": "workCompleted",
            "appointment": {"dueInDateTime": "2027-04-13T09:00:00.000Z"},
        },
        zone,
    )
    assert order.status == "WORKCOMPLETED"
    assert order.due_in == datetime(2027, 4, 13, 9, tzinfo=zone)
    assert order.due_out is None


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"status": "CREATED"},
        {"repairOrderId": "x"},
        {"repairOrderId": "x", "status": "CREATED", "appointment": []},
        {"repairOrderId": "x", "status": "CREATED", "appointment": {"dueInDateTime": 5}},
        {"repairOrderId": "x", "status": "CREATED", "appointment": {"dueInDateTime": "soon"}},
    ],
)
def test_parsing_refuses_what_it_cannot_read(body: object) -> None:
    with pytest.raises(RepairOrderShapeError):
        parse_repair_order(body, None)


def test_the_store_path_is_validated(client: KeyloopClient) -> None:
    from keyloop import KeyloopInvalidRequestError

    with pytest.raises(KeyloopInvalidRequestError):
        client.get_repair_order(Store("ENT-1", "STORE-1"), "../x")
