"""A table of malformed requests: each is refused cleanly and nothing reaches Keyloop."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.faults.conftest import MATRIX
from tests.functions.harness import ALICE, Harness
from tests.functions.test_create_booking import booking
from visn.records.namespace import OPERATIONS

KEY = "key-bad-input-000001"
AVAIL = {"supplierId": "keyloop-leeds", "date": "2027-01-12", "serviceTypes": ["MOT"]}
FIRST = {"supplierId": "keyloop-leeds", "serviceTypes": ["MOT"], "withinDays": 28, "count": 5}
SLOT = {"start": "2027-01-12T10:00:00+00:00"}
REARRANGE = {"idempotencyKey": KEY, "enquiryId": "enq1", "slot": SLOT}


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(base))
    for key, value in changes.items():
        if value is _DROP:
            data.pop(key)
        else:
            data[key] = value
    return data


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": [value]}
    return value


_DROP = object()
FULL_WIDTH_REGISTRATION = "\uff21\uff2212\uff23\uff24\uff25"  # AB12CDE in full-width letters
BOOK = booking(KEY)

# (callable, data): every one must be INVALID_ARGUMENT with no upstream call.
TABLE: list[tuple[str, Any]] = [
    # getAvailability
    ("getAvailability", None),
    ("getAvailability", []),
    ("getAvailability", "keyloop-leeds"),
    ("getAvailability", with_(AVAIL, supplierId=_DROP)),
    ("getAvailability", with_(AVAIL, supplierId="")),
    ("getAvailability", with_(AVAIL, supplierId="../x")),
    ("getAvailability", with_(AVAIL, supplierId="a/b")),
    ("getAvailability", with_(AVAIL, supplierId="keyloop-leeds\u200b")),  # zero-width space
    ("getAvailability", with_(AVAIL, supplierId="k" * 10_000)),
    ("getAvailability", with_(AVAIL, supplierId=123)),
    ("getAvailability", with_(AVAIL, date="2026-02-30")),
    ("getAvailability", with_(AVAIL, date="12/01/2027")),
    ("getAvailability", with_(AVAIL, date="2027-1-12")),
    ("getAvailability", with_(AVAIL, date=20270112)),
    ("getAvailability", with_(AVAIL, date="2027-01-03")),  # before today (pinned 2027-01-04)
    ("getAvailability", with_(AVAIL, date="2030-01-01")),  # beyond 180 days
    ("getAvailability", with_(AVAIL, days=15)),
    ("getAvailability", with_(AVAIL, days=0)),
    ("getAvailability", with_(AVAIL, days="3")),
    ("getAvailability", with_(AVAIL, days=2.5)),
    ("getAvailability", with_(AVAIL, days=True)),
    ("getAvailability", with_(AVAIL, serviceTypes=[])),
    ("getAvailability", with_(AVAIL, serviceTypes="MOT")),
    ("getAvailability", with_(AVAIL, serviceTypes=["MOT"] * 6)),
    ("getAvailability", with_(AVAIL, serviceTypes=["MOT", "MOT"])),
    ("getAvailability", with_(AVAIL, serviceTypes=["mot"])),
    ("getAvailability", with_(AVAIL, serviceTypes=["M\u041eT"])),  # Cyrillic O look-alike
    ("getAvailability", with_(AVAIL, serviceTypes=["GLASS"], supplierId="keyloop-dublin")),
    ("getAvailability", with_(AVAIL, extra="field")),
    ("getAvailability", with_(AVAIL, supplierId=nested(50))),
    # findFirstAvailable
    ("findFirstAvailable", with_(FIRST, withinDays=91)),
    ("findFirstAvailable", with_(FIRST, withinDays=0)),
    ("findFirstAvailable", with_(FIRST, withinDays="28")),
    ("findFirstAvailable", with_(FIRST, count=21)),
    ("findFirstAvailable", with_(FIRST, count=0)),
    ("findFirstAvailable", with_(FIRST, **{"from": "2027-13-01"})),
    ("findFirstAvailable", with_(FIRST, **{"from": "2030-01-01"})),  # beyond 180 days
    ("findFirstAvailable", with_(FIRST, serviceTypes=[])),
    ("findFirstAvailable", with_(FIRST, supplierId="../x")),
    ("findFirstAvailable", with_(FIRST, date="2027-01-12")),  # getAvailability's field
    # createBooking
    ("createBooking", with_(BOOK, idempotencyKey="short")),
    ("createBooking", with_(BOOK, idempotencyKey="k" * 129)),
    ("createBooking", with_(BOOK, idempotencyKey="key with spaces 0001")),
    ("createBooking", with_(BOOK, idempotencyKey=_DROP)),
    ("createBooking", with_(BOOK, slot={"start": "2027-01-12T10:00:00"})),  # no offset
    ("createBooking", with_(BOOK, slot={"start": "tomorrow"})),
    ("createBooking", with_(BOOK, slot={"start": "2027-01-04T08:00:00Z"})),  # past
    ("createBooking", with_(BOOK, slot={"start": SLOT["start"], "end": "2027-01-12T09:00:00Z"})),
    ("createBooking", with_(BOOK, slot={"start": SLOT["start"], "room": 1})),
    ("createBooking", with_(BOOK, vehicle={"registration": "A"})),
    (
        "createBooking",
        with_(BOOK, vehicle={"registration": "\uff21\uff2212\uff23\uff24\uff25"}),
    ),  # full-width
    ("createBooking", with_(BOOK, vehicle={"registration": "AB12CDE", "vin": "WVWZZZ1JZXW00000I"})),
    (
        "createBooking",
        with_(BOOK, vehicle={"registration": "AB12CDE", "mileage": {"value": -1, "unit": "MI"}}),
    ),
    (
        "createBooking",
        with_(BOOK, vehicle={"registration": "AB12CDE", "mileage": {"value": 10, "unit": "mi"}}),
    ),
    ("createBooking", with_(BOOK, contact={"givenName": "", "familyName": "L"})),
    ("createBooking", with_(BOOK, contact={"givenName": "A" * 51, "familyName": "L"})),
    ("createBooking", with_(BOOK, contact={"givenName": "A\u0000", "familyName": "L"})),
    ("createBooking", with_(BOOK, contact={"givenName": "A", "familyName": "L", "email": "nope"})),
    ("createBooking", with_(BOOK, notes="n" * 1001)),
    ("createBooking", with_(BOOK, optionalService="COLLECTION_AND_DELIVERY")),
    (
        "createBooking",
        with_(
            BOOK,
            collectionAddress={"line1": "1 Park Row", "city": "Leeds", "postalCode": "LS1 5AB"},
        ),
    ),
    ("createBooking", with_(BOOK, supplierId="keyloop-leeds/../x")),
    ("createBooking", with_(BOOK, vehicle=nested(30))),
    # cancelBooking
    ("cancelBooking", {}),
    ("cancelBooking", {"enquiryId": ""}),
    ("cancelBooking", {"enquiryId": "../enquiries/other"}),
    ("cancelBooking", {"enquiryId": "a/b"}),
    ("cancelBooking", {"enquiryId": "x", "reason": "r" * 501}),
    ("cancelBooking", {"enquiryId": ["x"]}),
    # rearrangeBooking
    ("rearrangeBooking", with_(REARRANGE, enquiryId="a/b")),
    ("rearrangeBooking", with_(REARRANGE, slot=None)),
    ("rearrangeBooking", with_(REARRANGE, slot={"start": "2027-02-30T10:00:00Z"})),
    ("rearrangeBooking", with_(REARRANGE, idempotencyKey=None)),
    ("rearrangeBooking", with_(REARRANGE, status="CANCELLED")),
]


@pytest.mark.parametrize(
    ("name", "data"), TABLE, ids=[f"{i:02d}-{n}" for i, (n, _) in enumerate(TABLE)]
)
def test_malformed_request_refused(harness: Harness, name: str, data: Any) -> None:
    outcome = harness.call(name, data)
    assert outcome.http_status == 400
    assert outcome.status == "INVALID_ARGUMENT"
    assert outcome.reason in {"VALIDATION", "UNKNOWN_SERVICE_TYPE"}
    for field in outcome.fields:
        assert set(field) == {"path", "message"}
        assert "k" * 100 not in field["message"]  # values are never echoed
    _count(harness)


# Bodies the callable protocol itself refuses, before our code runs.
RAW: list[tuple[str, bytes, str]] = [
    ("createBooking", b"not json at all", "application/json"),
    ("createBooking", b'{"data": {"idempotencyKey": ', "application/json"),
    ("getAvailability", json.dumps({"supplierId": "x"}).encode(), "application/json"),  # no data
    ("getAvailability", json.dumps({"data": AVAIL}).encode(), "text/plain"),
    ("cancelBooking", b"\xff\xfe\x00garbage", "application/json"),
    ("cancelBooking", json.dumps({"data": {}, "extra": 1}).encode(), "application/json"),
    ("getAvailability", ("[" * 100_000 + "]" * 100_000).encode(), "application/json"),
]


@pytest.mark.parametrize(("name", "body", "content_type"), RAW)
def test_malformed_body_refused_by_the_protocol(
    harness: Harness, name: str, body: bytes, content_type: str
) -> None:
    headers = {"Content-Type": content_type, "Authorization": f"Bearer {ALICE.id_token()}"}
    with harness.app.test_client() as client:
        response = client.post(f"/{name}", data=body, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["status"] == "INVALID_ARGUMENT"
    _count(harness)


def _count(harness: Harness) -> None:
    calls = sum(harness.upstream_counts().values())
    MATRIX["bad_inputs"] = MATRIX.get("bad_inputs", 0) + 1
    MATRIX["bad_input_upstream_calls"] = MATRIX.get("bad_input_upstream_calls", 0) + calls
    assert calls == 0
    assert harness.docs(OPERATIONS) == {}
