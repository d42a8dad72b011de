"""ViSN's enquiry numbers on the enquiries createBooking writes, against the real emulator:
unique under concurrency (with ViSN's own takers too), and every number taken from the
counter is on an enquiry or on ViSN's abandoned list."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from google.cloud import firestore

from devtools.seed import DEMO_NEXT_ENQUIRY_NUMBER, ENQUIRY_COUNTER, UK_SUPPLIER
from tests.functions.enquiry_invariant import number_problems
from tests.functions.harness import ALICE, BOB, Harness, firestore_outage
from visn.records import enquiry_numbers
from visn.records.namespace import OPERATIONS
from visn.saga.operations import operation_id

DAY = "2027-01-12"
# ViSN taking numbers at the same time, from another process (each one costs the emulator a
# few seconds of lock conflict resolution: one shows the point).
VISN_TAKERS = 1


def booking(key: str, hour: int) -> dict[str, Any]:
    return {
        "idempotencyKey": key,
        "supplierId": UK_SUPPLIER,
        "serviceTypes": ["SERVICE"],
        "slot": {"start": f"{DAY}T{hour:02d}:00:00+00:00"},
        "vehicle": {"registration": "AB12CDE"},
        "contact": {"givenName": "Ada", "familyName": "Lovelace"},
    }


def numbers_on_enquiries(harness: Harness) -> list[int]:
    return [e["enquiryNumber"] for e in harness.docs("enquiries").values()]


def assert_every_drawn_number_accounted_for(harness: Harness) -> None:
    assert number_problems(harness.db) == []


def test_an_enquiry_carries_the_next_number_and_a_replay_takes_none(harness: Harness) -> None:
    result = harness.call("createBooking", booking("key-number-00000001", 10)).result
    assert result["enquiryNumber"] == DEMO_NEXT_ENQUIRY_NUMBER
    enquiry = harness.doc("enquiries", result["enquiryId"])
    assert enquiry is not None
    assert enquiry["enquiryNumber"] == DEMO_NEXT_ENQUIRY_NUMBER
    assert isinstance(enquiry["enquiryNumber"], int)
    # One shard went up by one; the others are as seeded.
    assert enquiry_numbers.counter_total(harness.db) == DEMO_NEXT_ENQUIRY_NUMBER + 1

    replay = harness.call("createBooking", booking("key-number-00000001", 10)).result
    assert replay == result
    assert enquiry_numbers.counter_total(harness.db) == DEMO_NEXT_ENQUIRY_NUMBER + 1
    assert_every_drawn_number_accounted_for(harness)


def test_concurrent_bookings_and_visn_takers_never_share_a_number(harness: Harness) -> None:
    """Eight bookings and ViSN's own enquiries (the same transaction shape) at once."""
    hours = range(8, 16)
    barrier = threading.Barrier(len(hours) + VISN_TAKERS)
    outcomes: list[Any] = []
    visn_numbers: list[int] = []
    errors: list[BaseException] = []

    def book(hour: int) -> None:
        barrier.wait()
        user = ALICE if hour % 2 else BOB
        outcomes.append(
            harness.call("createBooking", booking(f"key-concurrent-{hour:04d}", hour), user)
        )

    def visn_enquiry(n: int) -> None:
        try:
            client = firestore.Client(project=harness.db.project)
            barrier.wait()
            ref = client.collection("enquiries").document(f"visn-own-{n}")

            # ViSN's own taker, another process: its own transaction, not our process's turn.
            @firestore.transactional
            def take_and_create(transaction: Any) -> int:
                number, _ = enquiry_numbers.take(client, transaction)
                transaction.create(ref, {"customerId": "cust-v", "enquiryNumber": number})
                return number

            visn_numbers.append(take_and_create(client.transaction(max_attempts=10)))
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=book, args=(h,)) for h in hours]
    threads += [threading.Thread(target=visn_enquiry, args=(n,)) for n in range(VISN_TAKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert [o.reason for o in outcomes if not o.ok] == []
    ours = [o.result["enquiryNumber"] for o in outcomes]
    assert len(ours) == len(hours)
    every = ours + visn_numbers
    first = DEMO_NEXT_ENQUIRY_NUMBER
    assert sorted(every) == list(range(first, first + len(hours) + VISN_TAKERS))
    for outcome in outcomes:
        enquiry = harness.doc("enquiries", outcome.result["enquiryId"])
        assert enquiry is not None
        assert enquiry["enquiryNumber"] == outcome.result["enquiryNumber"]
    assert_every_drawn_number_accounted_for(harness)


def test_failed_bookings_put_their_number_on_the_abandoned_list(harness: Harness) -> None:
    """The number is taken before Keyloop is asked: a booking Keyloop refuses, and one whose
    closing write fails (compensated), each leave their number on ViSN's abandoned list, in
    the commit that closes their operation; a retry of the key takes a new one."""
    assert harness.call("createBooking", booking("key-failing-0000001", 9)).ok
    # Keyloop refuses: the slot is taken.
    harness.fault("create", status=409, body={"code": "SLOT_UNAVAILABLE", "message": "full"})
    taken = harness.call("createBooking", booking("key-failing-0000002", 9), BOB)
    assert taken.reason == "SLOT_UNAVAILABLE"
    refused = harness.doc(OPERATIONS, operation_id(BOB.uid, "key-failing-0000002"))
    assert refused is not None
    assert refused["status"] == "FAILED"
    assert enquiry_numbers.abandoned_numbers(harness.db) == {DEMO_NEXT_ENQUIRY_NUMBER + 1}
    # The closing write fails: the appointment is cancelled and the number abandoned.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("visn.saga.booking.write_enquiry", _failing_write)
        failed = harness.call("createBooking", booking("key-failing-0000003", 11))
    assert failed.reason == "BOOKING_NOT_SAVED"
    operation = harness.doc(OPERATIONS, operation_id(ALICE.uid, "key-failing-0000003"))
    assert operation is not None
    assert operation["status"] == "COMPENSATED"
    assert enquiry_numbers.abandoned_numbers(harness.db) == {
        DEMO_NEXT_ENQUIRY_NUMBER + 1,
        DEMO_NEXT_ENQUIRY_NUMBER + 2,
    }
    # Once the fault is gone the same key books, and takes the next number.
    again = harness.call("createBooking", booking("key-failing-0000003", 11)).result
    assert again["enquiryNumber"] == DEMO_NEXT_ENQUIRY_NUMBER + 3
    assert_every_drawn_number_accounted_for(harness)


def _failing_write(*args: Any, **kwargs: Any) -> None:
    raise firestore_outage("closing write failed")


def test_without_a_counter_nothing_is_booked(harness: Harness) -> None:
    for shard in harness.db.collection(ENQUIRY_COUNTER).stream():
        shard.reference.delete()
    outcome = harness.call("createBooking", booking("key-no-counter-00001", 10))
    assert outcome.reason == "INTERNAL"
    assert harness.appointments() == []  # the number comes first: Keyloop was never asked
    assert harness.docs("enquiries") == {}
    # The number is taken in the claim's own commit: nothing was claimed either.
    assert harness.doc(OPERATIONS, operation_id(ALICE.uid, "key-no-counter-00001")) is None


def test_a_number_is_not_taken_for_an_operation_that_moved_on(harness: Harness) -> None:
    """The number's transaction is conditional on the operation's version: once another
    writer has moved it (here: a person), no number is taken and nothing is written."""
    from visn.saga import claims, operations

    claimed = claims.claim(
        harness.db,
        kind="createBooking",
        uid=ALICE.uid,
        customer_id="cust-a",
        idempotency_key="key-moved-on-000001",
        request_hash="h",
        supplier_id=UK_SUPPLIER,
        enquiry_id="enq-moved-on",
    )
    assert isinstance(claimed, operations.Claimed)
    harness.db.collection(OPERATIONS).document(claimed.op_id).update({"status": "FAILED"})
    with pytest.raises(operations.OperationLostError):
        operations.take_number(harness.db, claimed.held, wait_seconds=5)
    assert enquiry_numbers.counter_total(harness.db) == DEMO_NEXT_ENQUIRY_NUMBER
    assert harness.doc(OPERATIONS, claimed.op_id)["status"] == "FAILED"  # type: ignore[index]
