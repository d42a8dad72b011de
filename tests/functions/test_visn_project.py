"""Living in ViSN's project: its supplier records where it keeps them and as it shapes them,
and our own records expiring (Firestore TTL) without any saga read depending on them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from devtools.seed import DEMO_SUPPLIERS, IE_SUPPLIER, UK_SUPPLIER
from tests.functions.conftest import FROZEN_NOW
from tests.functions.harness import ALICE, Harness
from tests.functions.test_cancel_rearrange import rearrange
from tests.functions.test_create_booking import KEY, booking
from visn.records import enquiries, retention, suppliers
from visn.records.namespace import (
    AVAILABILITY_CACHE,
    COMPENSATIONS,
    OPERATIONS,
    PREFIX,
    RATE_LIMITS,
)
from visn.saga import reconciler
from visn.saga import steps as saga
from visn.saga.operations import operation_id

ROOT = Path(__file__).resolve().parents[2]
ASK = {"supplierId": UK_SUPPLIER, "date": "2027-01-12", "serviceTypes": ["SERVICE"]}


# -- supplier records --------------------------------------------------------------------------


def test_supplier_records_are_read_from_the_configured_collection(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = "config/visn/serviceUnits"
    harness.db.collection(path).document(UK_SUPPLIER).set(DEMO_SUPPLIERS[UK_SUPPLIER])
    harness.db.collection("suppliers").document(UK_SUPPLIER).delete()
    assert harness.call("getAvailability", ASK).reason == "SUPPLIER_NOT_FOUND"

    monkeypatch.setenv("SUPPLIERS_COLLECTION", path)
    suppliers.suppliers.clear()
    assert harness.call("getAvailability", ASK).ok


@pytest.mark.parametrize(
    ("fields", "zone"),
    [
        ({"locale": "en_GB"}, "Europe/London"),
        ({"locale": "en_IE"}, "Europe/Dublin"),
        ({"locale": "en_IE", "timezone": "Europe/London"}, "Europe/London"),  # explicit wins
        ({"locale": "en_IE", "timezone": "Not/AZone"}, "Europe/Dublin"),  # unusable: locale
        ({"locale": "fr_FR"}, "Europe/London"),  # unknown locale: ViSN's home market
        ({}, "Europe/London"),
    ],
)
def test_time_zone_from_an_explicit_field_else_the_locale(
    harness: Harness, fields: dict[str, Any], zone: str
) -> None:
    block = DEMO_SUPPLIERS[IE_SUPPLIER]["liveDiaryProvider"]
    harness.db.collection("suppliers").document(IE_SUPPLIER).set(
        {"name": "Dublin", "liveDiaryProvider": block, **fields}
    )
    answer = harness.call("getAvailability", {**ASK, "supplierId": IE_SUPPLIER}).result
    assert answer["timezone"] == zone


# -- ViSN's enquiries ---------------------------------------------------------------------------


def test_the_enquiry_we_write_has_exactly_the_documented_fields(harness: Harness) -> None:
    created = harness.call("createBooking", booking()).result
    enquiry = harness.doc("enquiries", created["enquiryId"])
    assert enquiry is not None
    assert set(enquiry) == enquiries.CREATED_FIELDS
    harness.call("cancelBooking", {"enquiryId": created["enquiryId"]})
    after = harness.doc("enquiries", created["enquiryId"])
    assert after is not None
    assert {k for k in after if after[k] != enquiry.get(k)} <= enquiries.UPDATED_FIELDS
    documented = (ROOT / "docs" / "visn-data.md").read_text()
    for name in enquiries.CREATED_FIELDS | enquiries.UPDATED_FIELDS:
        assert f"`{name}`" in documented, name


# -- our collections and their retention --------------------------------------------------------


def test_our_collections_carry_the_prefix(harness: Harness) -> None:
    assert OPERATIONS.startswith(PREFIX)
    assert COMPENSATIONS.startswith(PREFIX)
    assert RATE_LIMITS.startswith(PREFIX)
    assert AVAILABILITY_CACHE.startswith(PREFIX)
    harness.call("createBooking", booking())
    collections = {c.id for c in harness.db.collections()}
    ours = {OPERATIONS, RATE_LIMITS, AVAILABILITY_CACHE}
    assert collections == {"suppliers", "ancillary", "enquiries", *ours}


def test_finished_records_expire_and_nothing_reads_them_after(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = harness.call("createBooking", booking()).result
    op_id = operation_id(ALICE.uid, KEY)
    operation = harness.doc(OPERATIONS, op_id)
    assert operation is not None
    assert operation["expireAt"] == FROZEN_NOW + retention.OPERATION_KEPT

    # The move cannot cancel the old appointment at once (Keyloop down): an owed cancel,
    # worked by the reconciler later.
    harness.fault("cancel", status=503, count=3)
    moved = harness.call("rearrangeBooking", rearrange(created["enquiryId"])).result
    (comp_id, owed) = next(iter(harness.docs(COMPENSATIONS).items()))
    assert owed["status"] == "PENDING"
    assert owed.get("expireAt") is None
    later = FROZEN_NOW + timedelta(hours=1)
    monkeypatch.setattr("visn.infra.clock.now", lambda: later)
    reconciler.reconcile()
    done = harness.doc(COMPENSATIONS, comp_id)
    assert done is not None
    assert done["status"] == "DONE"
    assert done["expireAt"] == later + retention.COMPENSATION_KEPT

    # TTL removes every record with an expireAt (here at once): the enquiry still cancels,
    # and a reconciler run finds nothing to do.
    for collection in (OPERATIONS, COMPENSATIONS):
        for doc_id, data in harness.docs(collection).items():
            assert data.get("expireAt") is not None
            harness.db.collection(collection).document(doc_id).delete()
    cancelled = harness.call("cancelBooking", {"enquiryId": moved["enquiryId"]}).result
    assert cancelled["status"] == "CANCELLED"
    report = reconciler.reconcile()
    assert (report.cancelled, report.needs_attention) == ([], [])


def test_a_retried_key_is_not_left_to_expire(harness: Harness) -> None:
    harness.fault("create", status=503)
    assert harness.call("createBooking", booking()).reason == "DMS_UNAVAILABLE"
    op_id = operation_id(ALICE.uid, KEY)
    failed = harness.doc(OPERATIONS, op_id)
    assert failed is not None
    assert (failed["status"], failed["expireAt"]) == (
        "FAILED",
        FROZEN_NOW + retention.OPERATION_KEPT,
    )
    # While the retry is worked on (here: when it calls Keyloop), nothing may expire it.
    seen: list[dict[str, Any] | None] = []
    real_book = saga.book

    def book_and_look(*args: Any) -> Any:
        seen.append(harness.doc(OPERATIONS, op_id))
        return real_book(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("visn.saga.booking.book", book_and_look)
        assert harness.call("createBooking", booking()).ok
    (during,) = seen
    assert during is not None
    assert (during["status"], during["expireAt"]) == ("IN_PROGRESS", None)
    completed = harness.doc(OPERATIONS, op_id)
    assert completed is not None
    assert completed["status"] == "COMPLETED"
    assert completed["expireAt"] == FROZEN_NOW + retention.OPERATION_KEPT
