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

When: before Keyloop is asked (`take_for`), in a transaction of its own that also writes the
number onto the booking's operation. Contention on the counter (every taker reads every
shard) then costs a retryable error before anything is booked, never a booking lost after
Keyloop said yes. A number taken and not used (Keyloop refused, the booking was undone) goes
on ViSN's abandoned list (`abandon`), in the same commit that closes the operation.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore import Client, Transaction

from visn.infra import clock, db

COUNTER = "ancillary/counters/enquiryNumber"
ABANDONED = "ancillary/abandonedEnquiries/enquiries"
FIELD = "enquiryNumber"  # on the enquiry (as ViSN names it) and on our operation
COUNT = "count"
SOURCE = "keyloop-live-diary"
MAX_SHARDS = 1000  # a guard: ViSN's counter is a small fixed set
MAX_ATTEMPTS = 10
# How long a booking waits for this instance's turn at the counter: takers serialise, and the
# emulator (like Firestore under contention with ViSN's own takers) can hold one for seconds.
# Inside the saga's 30 s deadline (visn/saga/deadline.py): a booking that waited this long and
# then meets a slow Keyloop is undone before its closing write, never left half made.
TURN_WAIT_SECONDS = 20.0
_pick = random.SystemRandom()
_one_taker_per_process = threading.Lock()


class CounterMissingError(RuntimeError):
    """The project has no usable enquiry number counter (a set-up error, not a user's)."""


class CounterBusyError(RuntimeError):
    """No number could be taken within the budget (contention, or Firestore slow): nothing
    was taken, and the caller may try again."""


def take(client: Client, transaction: Transaction) -> tuple[int, Any]:
    """The next enquiry number, inside `transaction`: reads every shard, bumps one. Returns
    the number and the shard bumped.

    Call it before any write of the transaction (Firestore: reads come first)."""
    shards = list(
        transaction.get(client.collection(COUNTER).limit(MAX_SHARDS), **db.call_options())
    )
    counts = [_count(s) for s in shards]
    if not shards or None in counts:
        problem = "no shard documents" if not shards else "a shard without an integer count"
        raise CounterMissingError(f"{COUNTER}: {problem}")
    number = sum(c for c in counts if c is not None)
    shard = _pick.choice(shards).reference
    transaction.update(shard, {COUNT: firestore.Increment(1)})
    return number, shard


def take_with(
    client: Client, write: Callable[[Transaction, int], None], *, wait_seconds: float
) -> tuple[int, list[Any]]:
    """Take the next number and, in the same commit, what `write(transaction, number)` adds
    (its writes come after the shard's increment). Returns the number and the commit's write
    results (the shard's first).

    Bounded: the wait for this process's turn, and every call of the transaction (begin,
    reads, commit) take the Firestore budget; CounterBusyError when the turn does not come
    or contention outlasts MAX_ATTEMPTS. A failed precondition of `write` is raised as is."""

    @firestore.transactional
    def attempt(transaction: Transaction) -> int:
        number, _ = take(client, transaction)
        write(transaction, number)
        return number

    # Every taker reads every shard, so takers serialise (that is what makes numbers unique)
    # and two at once abort each other. Within one instance, take turns instead of aborting;
    # other instances and ViSN's own takers still contend: more attempts than the default 5.
    if not _one_taker_per_process.acquire(timeout=wait_seconds):
        raise CounterBusyError("no turn at the enquiry number counter")
    try:
        transaction = db.transaction(client, max_attempts=MAX_ATTEMPTS)
        try:
            number: int = attempt(transaction)
        except ValueError as exc:
            if isinstance(exc.__cause__, gexc.Aborted):
                raise CounterBusyError("contention at the enquiry number counter") from exc
            raise
        return number, list(transaction.write_results or [])
    finally:
        _one_taker_per_process.release()


def abandon(writer: Any, client: Client, number: int, operation_id: str) -> None:
    """Put `number` on ViSN's abandoned list, in `writer` (a batch or transaction): one
    document per number, its id the number, so writing it twice is harmless."""
    writer.set(
        client.collection(ABANDONED).document(str(number)),
        {
            FIELD: number,
            "abandonedAt": clock.now(),
            "source": SOURCE,
            "operationId": operation_id,
        },
    )


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


def number_of(data: dict[str, Any]) -> int | None:
    """The number a document (an operation or an enquiry) carries, if any."""
    return _int(data.get(FIELD))


def _count(snapshot: Any) -> int | None:
    return _int((snapshot.to_dict() or {}).get(COUNT))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
