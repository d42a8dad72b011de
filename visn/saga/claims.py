"""The claim of an idempotency key: the operation created before anything is booked (or an
earlier attempt's taken again), optionally with ViSN's next enquiry number in the same commit.
What an earlier attempt left is told apart here: replayed, refused, or taken again."""

from __future__ import annotations

import uuid
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.firestore import Client

from visn.contract import telemetry
from visn.contract.errors import Reason, booking_error
from visn.infra import clock, db
from visn.records import enquiry_numbers, retention
from visn.saga.operations import (
    OPERATIONS,
    RETRYABLE,
    Claimed,
    Held,
    OpStatus,
    Replay,
    operation_id,
)


def claim(
    client: Client,
    *,
    kind: str,
    uid: str,
    customer_id: str,
    idempotency_key: str,
    request_hash: str,
    supplier_id: str,
    enquiry_id: str,
    store: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    numbered: bool = False,
) -> Claimed | Replay:
    """Claim the key before anything is booked, or tell what an earlier attempt left.

    `store` (where a cancel would go) and `details` (what a person needs to record a booking
    found in the DMS as the enquiry it should have been) are kept on the operation. With
    `numbered` (createBooking), ViSN's next enquiry number is taken in the claim's own commit
    and kept on the operation: a transaction with the counter, bounded (CounterBusyError when
    no number can be had in time: nothing is claimed, nothing taken).
    """
    op_id = operation_id(uid, idempotency_key)
    telemetry.annotate(operationId=op_id)
    ref = client.collection(OPERATIONS).document(op_id)
    attempt = uuid.uuid4().hex
    document = {
        "kind": kind,
        "uid": uid,
        "customerId": customer_id,
        "supplierId": supplier_id,
        "enquiryId": enquiry_id,
        "requestHash": request_hash,
        "status": OpStatus.IN_PROGRESS.value,
        "attempts": 1,
        "attemptId": attempt,
        "store": store,
        "details": details,
        "createdAt": clock.now(),
        "updatedAt": clock.now(),
    }
    try:
        return Claimed(
            op_id, enquiry_id, _write_claim(client, ref, attempt, numbered, document, None)
        )
    except (gexc.AlreadyExists, gexc.Conflict):
        pass  # an earlier attempt, or this one applied while its answer was lost
    except (gexc.GoogleAPICallError, gexc.RetryError):
        ours = _ours(ref, attempt)
        if ours is None:
            raise  # not claimed: nothing was booked, the caller may try again
        return Claimed(op_id, enquiry_id, _held(ours, op_id, attempt))
    snapshot = ref.get(**db.call_options())
    existing = snapshot.to_dict() or {}
    if existing.get("attemptId") == attempt:
        return Claimed(op_id, enquiry_id, _held(snapshot, op_id, attempt))
    if existing.get("requestHash") != request_hash:
        raise booking_error(Reason.IDEMPOTENCY_KEY_REUSED)
    status = existing.get("status")
    if status == OpStatus.COMPLETED:
        return Replay(dict(existing.get("result") or {}))
    if status == OpStatus.OUTCOME_UNKNOWN:
        raise booking_error(Reason.DMS_OUTCOME_UNKNOWN)
    if status not in RETRYABLE:
        raise booking_error(Reason.IN_PROGRESS)
    # An earlier attempt booked nothing: take the key again, unless another retry beat us.
    # Its number (if it took one) went on the abandoned list when it ended: this attempt
    # takes its own.
    retry = {
        "status": OpStatus.IN_PROGRESS.value,
        "attempts": int(existing.get("attempts", 1)) + 1,
        "attemptId": attempt,
        "appointmentId": None,
        enquiry_numbers.FIELD: None,
        "error": None,
        "store": store,
        "details": details,
        "updatedAt": clock.now(),
        **retention.operation_fields(OpStatus.IN_PROGRESS),
    }
    enquiry_id = str(existing.get("enquiryId") or enquiry_id)
    try:
        held = _write_claim(client, ref, attempt, numbered, retry, snapshot.update_time)
    except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
        # Another retry took the key first, or ours was applied and its answer lost.
        ours = _ours(ref, attempt)
        if ours is None:
            if isinstance(exc, gexc.FailedPrecondition | gexc.Aborted):
                raise booking_error(Reason.IN_PROGRESS) from None
            raise
        return Claimed(op_id, enquiry_id, _held(ours, op_id, attempt))
    return Claimed(op_id, enquiry_id, held)


def _write_claim(
    client: Client,
    ref: Any,
    attempt: str,
    numbered: bool,
    fields: dict[str, Any],
    since: Any | None,
) -> Held:
    """Create the operation (`since` None) or take it again (conditional on `since`), with
    the next enquiry number in the same commit when `numbered`."""
    option = None if since is None else client.write_option(last_update_time=since)

    def write(writer: Any, number: int | None) -> None:
        data = fields if number is None else {**fields, enquiry_numbers.FIELD: number}
        if since is None:
            writer.create(ref, data)
        else:
            writer.update(ref, data, option=option)

    if not numbered:
        batch = client.batch()
        write(batch, None)
        (written,) = batch.commit(**db.call_options())
        return Held(ref.id, attempt, written.update_time)
    number, results = enquiry_numbers.take_with(
        client, write, wait_seconds=enquiry_numbers.TURN_WAIT_SECONDS
    )
    return Held(ref.id, attempt, results[-1].update_time, number)


def _held(snapshot: Any, op_id: str, attempt: str) -> Held:
    number = enquiry_numbers.number_of(snapshot.to_dict() or {})
    return Held(op_id, attempt, snapshot.update_time, number)


def _ours(ref: Any, attempt: str) -> Any | None:
    """The operation's snapshot if this attempt's claim is what it holds (read back after an
    error)."""
    snapshot = ref.get(**db.call_options())
    data = snapshot.to_dict() if snapshot.exists else None
    return snapshot if data is not None and data.get("attemptId") == attempt else None
