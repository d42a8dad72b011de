"""ViSN's enquiry numbers: everything we read and write of its distributed counter.

ViSN gives every enquiry a ViSN-wide sequential number ("Enquiry Number Generation", ViSN's
technical docs). The counter is the collection `ancillary/counters/enquiryNumber`: a fixed
set of documents with sequential ids, each with an integer `count`. The next number is the
sum of all counts; taking it increments the count of one document picked at random (the
shards spread the write load). We follow that exactly, inside a transaction that reads
every shard, so two bookings (ours or ViSN's own, which read every shard too) never get the
same number.

Assumed (ViSN's docs do not say; one place to change): the number taken is the sum read
*before* the increment, i.e. the counter holds the next number to give. See
docs/visn-data.md.

Where: the number is drawn in the booking's final write, in the same transaction that
creates the enquiry and completes the operation. A number is therefore taken exactly when
its enquiry is written: a booking that fails (Keyloop refuses, the write fails) never took
one, so there is none to abandon. The abandoned list (`ancillary/abandonedEnquiries/
enquiries`) is only read, to check the invariant.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from typing import Any

from google.cloud import firestore
from google.cloud.firestore import Client, Transaction

from visn.infra import db

COUNTER = "ancillary/counters/enquiryNumber"
ABANDONED = "ancillary/abandonedEnquiries/enquiries"
FIELD = "enquiryNumber"  # on the enquiry, as ViSN names it
COUNT = "count"
MAX_SHARDS = 1000  # a guard: ViSN's counter is a small fixed set
MAX_ATTEMPTS = 10
_pick = random.SystemRandom()
_one_taker_per_process = threading.Lock()


class EnquiryExistsError(RuntimeError):
    """Another write made the enquiry this one was to create."""


class CounterMissingError(RuntimeError):
    """The project has no usable enquiry number counter (a set-up error, not a user's)."""


def take(client: Client, transaction: Transaction) -> int:
    """The next enquiry number, inside `transaction`: reads every shard, bumps one.

    Call it before any write of the transaction (Firestore: reads come first)."""
    shards = list(
        transaction.get(
            client.collection(COUNTER).limit(MAX_SHARDS), timeout=db.call_options()["timeout"]
        )
    )
    counts = [_count(s) for s in shards]
    if not shards or None in counts:
        problem = "no shard documents" if not shards else "a shard without an integer count"
        raise CounterMissingError(f"{COUNTER}: {problem}")
    number = sum(c for c in counts if c is not None)
    transaction.update(_pick.choice(shards).reference, {COUNT: firestore.Increment(1)})
    return number


def create_numbered(
    client: Client,
    enquiry_ref: Any,
    enquiry: dict[str, Any],
    also_update: Callable[[int], Iterable[tuple[Any, dict[str, Any]]]] = lambda _: (),
    also_write: Callable[[Transaction], None] = lambda _: None,
) -> int:
    """Create the enquiry carrying the next number, with the updates `also_update(number)`
    names, and what `also_write` adds to the transaction, in the same commit; returns the
    number. Idempotent for the same operation: when
    the enquiry is already there with our `operationId`, its number is returned and nothing
    is written.

    Firestore retries the transaction when it contends with another taker; each attempt
    reads the counter afresh (and may draw another number)."""

    @firestore.transactional
    def attempt(transaction: Transaction) -> int:
        # An earlier attempt of this very write may have committed although its call failed
        # (the client then retries the transaction): its enquiry has the number already.
        existing = enquiry_ref.get(transaction=transaction, timeout=db.call_options()["timeout"])
        if existing.exists:
            data = existing.to_dict() or {}
            if (
                data.get("operationId") != enquiry.get("operationId")
                or _int(data.get(FIELD)) is None
            ):
                raise EnquiryExistsError(f"enquiry {enquiry_ref.id} exists and is not this one")
            return int(data[FIELD])
        number = take(client, transaction)
        transaction.create(enquiry_ref, {**enquiry, FIELD: number})
        for ref, fields in also_update(number):
            transaction.update(ref, fields)
        also_write(transaction)
        return number

    # Every taker reads every shard, so takers serialise (that is what makes numbers unique)
    # and two at once abort each other. Within one instance, take turns instead of aborting;
    # other instances and ViSN's own takers still contend: more attempts than the default 5.
    with _one_taker_per_process:
        number: int = attempt(client.transaction(max_attempts=MAX_ATTEMPTS))
    return number


def counter_total(client: Client) -> int:
    """The sum of all shards now (tests, `make dev`'s seed check)."""
    return sum(_count(s) or 0 for s in client.collection(COUNTER).stream(**db.call_options()))


def abandoned_numbers(client: Client) -> set[int]:
    """Numbers on ViSN's abandoned list (each document carries its `enquiryNumber`)."""
    numbers = set()
    for snapshot in client.collection(ABANDONED).stream(**db.call_options()):
        value = (snapshot.to_dict() or {}).get(FIELD)
        if isinstance(value, int):
            numbers.add(value)
    return numbers


def _count(snapshot: Any) -> int | None:
    return _int((snapshot.to_dict() or {}).get(COUNT))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
