"""Where a Keyloop event names its store (issue 21): `data.context`, or the CloudEvent extension
attributes `enterpriseid`/`storeid` (structured mode: top-level; binary mode: `ce-*` headers),
checked against the enquiry's store. Posted over a socket to keyloopEvents, on the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.functions.events_endpoint import EVENTS_SECRET, EventsEndpoint, wait_for
from tests.functions.harness import Harness
from tests.functions.test_cancel_rearrange import booked
from tests.functions.test_keyloop_events import answered, dealer, enquiry, repair_order_reads
from visn.sync.names import EVENT_RECEIPTS

MOVED_TO = "2027-01-12T14:00:00+00:00"


def _moved_with_event_dropped(harness: Harness) -> dict[str, Any]:
    created = booked(harness)
    answered(harness, 1)
    harness.sandbox_post("events", {"drop": 1})
    dealer(harness, created["appointmentId"], "move", {"dueInDateTime": "2027-01-12T14:00:00.000Z"})
    wait_for(lambda: harness.sandbox_get("events")["deliveries"][-1]["outcome"] == "dropped")
    return created


def structured(events: EventsEndpoint, event: dict[str, Any]) -> requests.Response:
    headers = {"Content-Type": "application/cloudevents+json", "x-api-key": EVENTS_SECRET}
    return requests.post(events.url, data=json.dumps(event), headers=headers, timeout=10)


def binary(events: EventsEndpoint, data: Any, **attributes: str) -> requests.Response:
    headers = {
        "Content-Type": "application/json",
        "x-api-key": EVENTS_SECRET,
        "ce-specversion": "1.0",
        "ce-source": "urn:partner",
        "ce-type": "RepairOrderUpdated",
        **{f"ce-{k}": v for k, v in attributes.items()},
    }
    return requests.post(events.url, data=json.dumps(data), headers=headers, timeout=10)


def test_a_partners_structured_event_with_extension_attributes_applies(
    harness: Harness, events: EventsEndpoint
) -> None:
    created = _moved_with_event_dropped(harness)
    answer = structured(
        events,
        {
            "specversion": "1.0",
            "id": "partner-1",
            "source": "urn:partner",
            "type": "RepairOrderUpdated",
            "enterpriseid": "ENT-1001",
            "storeid": "STORE-01",
            "data": {"RepairOrderId": created["appointmentId"]},
        },
    )
    assert answer.status_code == 204
    assert enquiry(harness, created["enquiryId"])["slot"]["start"] == MOVED_TO


def test_a_binary_mode_event_applies(harness: Harness, events: EventsEndpoint) -> None:
    created = _moved_with_event_dropped(harness)
    answer = binary(
        events,
        {"RepairOrderId": created["appointmentId"]},
        id="partner-2",
        enterpriseid="ENT-1001",
        storeid="STORE-01",
    )
    assert answer.status_code == 204
    assert enquiry(harness, created["enquiryId"])["slot"]["start"] == MOVED_TO


@pytest.mark.parametrize(
    "how",
    ["binary, another store", "structured, another enterprise", "context and attributes differ"],
)
def test_an_event_naming_another_store_is_not_applied(
    harness: Harness, events: EventsEndpoint, how: str, capfd: pytest.CaptureFixture[str]
) -> None:
    created = _moved_with_event_dropped(harness)
    before = enquiry(harness, created["enquiryId"])
    reads, receipts = repair_order_reads(harness), harness.docs(EVENT_RECEIPTS)
    order = created["appointmentId"]
    capfd.readouterr()
    if how == "binary, another store":
        answer = binary(
            events, {"RepairOrderId": order}, id="m-1", enterpriseid="ENT-1001", storeid="STORE-02"
        )
    elif how == "structured, another enterprise":
        answer = structured(
            events,
            {
                "specversion": "1.0",
                "id": "m-2",
                "source": "urn:partner",
                "type": "t",
                "data": {
                    "repairOrderId": order,
                    "context": {"enterpriseId": 31905, "storeId": "STORE-01"},
                },
            },
        )
    else:
        answer = structured(
            events,
            {
                "specversion": "1.0",
                "id": "m-3",
                "source": "urn:partner",
                "type": "t",
                "enterpriseid": "ENT-1001",
                "storeid": "STORE-02",
                "data": {
                    "repairOrderId": order,
                    "context": {"enterpriseId": "ENT-1001", "storeId": "STORE-01"},
                },
            },
        )
    assert answer.status_code == 204
    assert enquiry(harness, created["enquiryId"]) == before  # not applied
    assert repair_order_reads(harness) == reads  # nothing read
    assert harness.docs(EVENT_RECEIPTS) == receipts  # nothing written
    out = capfd.readouterr()
    lines = [json.loads(x) for x in (out.out + out.err).splitlines() if x.startswith("{")]
    handled = [x for x in lines if x.get("message") == "keyloop event handled"]
    assert [x["outcome"] for x in handled] == ["STORE_MISMATCH"]
    warned = [x for x in lines if x.get("message", "").startswith("keyloop event names another")]
    assert [(x["severity"], x["repairOrderId"]) for x in warned] == [("WARNING", order)]


def test_a_binary_mode_event_without_its_attributes_is_400(
    harness: Harness, events: EventsEndpoint
) -> None:
    assert binary(events, {"RepairOrderId": "x"}).status_code == 400  # no ce-id
    assert binary(events, {"RepairOrderId": "x"}, id="b-1", specversion="0.3").status_code == 400
