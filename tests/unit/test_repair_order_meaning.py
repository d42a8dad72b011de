"""`visn.records.dms_view.view_of`: a repair order's meaning, every branch, and what it logs.

The rules are Keyloop's own adapter's (after "Changes made from dry run", shared/keyloop-api.md)
with our one departure: a repair order listing no labour items is judged by its status alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from keyloop import RepairOrder
from keyloop.repair_orders import RepairOrderShapeError, parse_repair_order
from visn.records import dms_view as readback
from visn.records.dms_view import DmsState, view_of

DUE = datetime(2027, 1, 12, 9, tzinfo=UTC)


def order(status: str = "CREATED", *labour: str, checked_in: bool = False) -> RepairOrder:
    return RepairOrder("ro-1", status, DUE, None, tuple(labour), checked_in)


@pytest.fixture(autouse=True)
def _fresh_log_memory() -> None:
    readback._noted.clear()


@pytest.mark.parametrize(
    ("repair_order", "state"),
    [
        (None, DmsState.CANCELLED),  # the API's own 404: gone
        (order("CANCELLED"), DmsState.CANCELLED),
        (order("CANCELLED", "BOOKED"), DmsState.CANCELLED),  # its status says so, whatever else
        (order("CANCELLED", "BOOKED", checked_in=True), DmsState.CANCELLED),
        (order("WORKCOMPLETED"), DmsState.COMPLETED),
        (order("CLOSED", "COMPLETED"), DmsState.COMPLETED),
        (order("CLOSED", "CANCELLED"), DmsState.COMPLETED),  # work done: not a cancel
        (order("CREATED"), DmsState.LIVE),  # no labour items: its status alone
        (order("CREATED", "BOOKED"), DmsState.LIVE),
        (order("CREATED", "CANCELLED", "BOOKED"), DmsState.LIVE),  # one still booked
        (order("CREATED", "CANCELLED"), DmsState.CANCELLED),  # none booked: cancelled in the DMS
        (order("CREATED", "CANCELLED", "", "UNALLOCATED"), DmsState.CANCELLED),
        (order("CREATED", "STARTED", checked_in=True), DmsState.LIVE),  # work has started
        (order("ONHOLD"), DmsState.LIVE),  # a status not seen, no labour: live
        (order("ONHOLD", "BOOKED"), DmsState.LIVE),
        (order("ONHOLD", "CANCELLED"), DmsState.CANCELLED),
    ],
)
def test_meaning(repair_order: RepairOrder | None, state: DmsState) -> None:
    view = view_of(repair_order)
    assert view.state is state
    if repair_order is None:
        assert (view.status, view.due_in) == (None, None)
    else:
        assert (view.status, view.due_in) == (repair_order.status, DUE)


def logged(capfd: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    lines = [json.loads(x) for x in capfd.readouterr().out.splitlines() if x.startswith("{")]
    return [x for x in lines if x.get("message") == readback.UNSEEN_VALUE_EVENT]


def test_a_value_not_seen_is_logged_once_per_value_with_the_id_only(
    capfd: pytest.CaptureFixture[str],
) -> None:
    view_of(order("CREATED", "BOOKED", "CANCELLED"))
    view_of(RepairOrder("ro-2", "ONHOLD", DUE, None, ("CANCELLED", "STARTED")))
    view_of(RepairOrder("ro-3", "ONHOLD", DUE, None, ("STARTED",)))
    view_of(order("CLOSED"))
    lines = logged(capfd)
    assert [(x["kind"], x["value"], x["repairOrderId"]) for x in lines] == [
        ("labourStatus", "CANCELLED", "ro-1"),
        ("status", "ONHOLD", "ro-2"),
        ("labourStatus", "STARTED", "ro-2"),
    ]
    assert all(x["severity"] == "WARNING" for x in lines)


def test_nothing_personal_from_the_body_reaches_the_log(capfd: pytest.CaptureFixture[str]) -> None:
    body = {
        "repairOrderId": "ro-9",
        "status": "PENDING",
        "customer": {"givenName": "Ada", "familyName": "Lovelace"},
        "vehicle": {"licensePlate": "AB12 CDE"},
        "details": {"notes": "call 07700 900123", "checkInDateTime": None},
        "jobs": [{"labor": [{"itemId": "l", "status": "Unallocated"}]}],
    }
    view = view_of(parse_repair_order(body))
    assert view.state is DmsState.CANCELLED
    out = capfd.readouterr().out
    for expected in ("ro-9", "UNALLOCATED", "PENDING"):
        assert expected in out
    for personal in ("Ada", "Lovelace", "AB12 CDE", "07700"):
        assert personal not in out


def test_labour_is_read_from_jobs_and_their_menus_and_parts_are_not() -> None:
    body = {
        "repairOrderId": "ro-1",
        "status": "created",
        "details": {"checkInDateTime": "2027-01-12T08:55:00.000Z"},
        "jobs": [
            {"jobId": "j1", "labor": [{"itemId": "a", "status": "booked"}], "parts": []},
            {
                "jobId": "j2",
                "menus": [{"itemId": "m", "labor": [{"itemId": "b", "status": " Cancelled "}]}],
                "parts": [{"itemId": "p", "status": "BOOKED"}],
            },
            {"jobId": "j3", "labor": [{"itemId": "c"}], "menus": None},
        ],
    }
    parsed = parse_repair_order(body)
    assert parsed.labour_statuses == ("BOOKED", "CANCELLED", "")
    assert parsed.checked_in is True
    bare = parse_repair_order({"repairOrderId": "ro-2", "status": "CREATED"})
    assert (bare.labour_statuses, bare.checked_in) == ((), False)


@pytest.mark.parametrize(
    "jobs",
    [
        {"labor": []},
        ["job"],
        [{"labor": {"status": "BOOKED"}}],
        [{"labor": [{"status": 3}]}],
        [{"menus": [{"labor": "BOOKED"}]}],
        [{"menus": ["m"]}],
    ],
)
def test_labour_we_cannot_read_is_a_bad_response(jobs: object) -> None:
    with pytest.raises(RepairOrderShapeError):
        parse_repair_order({"repairOrderId": "ro-1", "status": "CREATED", "jobs": jobs})
