"""Booking operations: one document per (user, idempotency key), the saga's durable state.

`liveDiary_bookingOperations/{opId}` (visn.records.namespace) is written before Keyloop is called,
so every appointment we make is traceable (Keyloop gets the op id as
`details.externalReference`) and a replay of the same key never books twice. Status moves:

    IN_PROGRESS -> BOOKED (appointment recorded) -> COMPLETED (enquiry written)
    IN_PROGRESS -> FAILED (nothing booked; the key may be tried again)
    IN_PROGRESS -> OUTCOME_UNKNOWN (Keyloop may have booked; a person checks)
    BOOKED -> COMPENSATED (appointment cancelled; the key may be tried again)
    BOOKED -> COMPENSATING (cancel failed; a compensation record holds the appointment)
    COMPENSATING -> COMPENSATED (the reconciler, or a person, cancelled it)
    OUTCOME_UNKNOWN -> COMPLETED | FAILED | COMPENSATING (`python -m visn operations resolve`)

Each attempt writes its own `attemptId`: a write of ours that was applied although the call
raised (the client's retry then meets AlreadyExists or a failed precondition) is recognised
as ours on reading back, not taken for another caller's.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from firebase_functions import logger
from google.api_core import exceptions as gexc
from google.cloud.firestore import Client

from visn.contract import telemetry
from visn.contract.errors import Reason, booking_error
from visn.infra import clock, db
from visn.records import retention
from visn.records.namespace import OPERATIONS as OPERATIONS  # noqa: PLC0414 (re-exported, its old home)


class OpStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    BOOKED = "BOOKED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
    COMPENSATED = "COMPENSATED"
    COMPENSATING = "COMPENSATING"


_RETRYABLE = frozenset({OpStatus.FAILED, OpStatus.COMPENSATED})
# A stable message an alert can match (docs/operations.md).
NOT_SETTLED_MESSAGE = "OPERATION_NOT_SETTLED: an operation could not be given its final status"


def operation_id(uid: str, idempotency_key: str) -> str:
    return hashlib.sha256(f"{uid}\n{idempotency_key}".encode()).hexdigest()[:40]


def fingerprint(kind: str, payload: dict[str, Any]) -> str:
    """Same key, same request? Compared on a hash: the op document holds no personal data."""
    canonical = json.dumps([kind, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Claimed:
    op_id: str
    enquiry_id: str


@dataclass(frozen=True)
class Replay:
    result: dict[str, Any]


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
) -> Claimed | Replay:
    """Claim the key before anything is booked, or tell what an earlier attempt left.

    `store` (where a cancel would go) and `details` (what a person needs to record a booking
    found in the DMS as the enquiry it should have been) are kept on the operation.
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
        ref.create(document, **db.call_options())
        return Claimed(op_id, enquiry_id)
    except gexc.AlreadyExists:
        pass  # an earlier attempt, or this one applied while its answer was lost
    except (gexc.GoogleAPICallError, gexc.RetryError):
        if _ours(ref, attempt) is None:
            raise  # not claimed: nothing was booked, the caller may try again
        return Claimed(op_id, enquiry_id)
    snapshot = ref.get(**db.call_options())
    existing = snapshot.to_dict() or {}
    if existing.get("attemptId") == attempt:
        return Claimed(op_id, enquiry_id)
    if existing.get("requestHash") != request_hash:
        raise booking_error(Reason.IDEMPOTENCY_KEY_REUSED)
    status = existing.get("status")
    if status == OpStatus.COMPLETED:
        return Replay(dict(existing.get("result") or {}))
    if status == OpStatus.OUTCOME_UNKNOWN:
        raise booking_error(Reason.DMS_OUTCOME_UNKNOWN)
    if status not in _RETRYABLE:
        raise booking_error(Reason.IN_PROGRESS)
    # An earlier attempt booked nothing: take the key again, unless another retry beat us.
    retry = {
        "status": OpStatus.IN_PROGRESS.value,
        "attempts": int(existing.get("attempts", 1)) + 1,
        "attemptId": attempt,
        "appointmentId": None,
        "error": None,
        "store": store,
        "details": details,
        "updatedAt": clock.now(),
        **retention.operation_fields(OpStatus.IN_PROGRESS),
    }
    try:
        ref.update(
            retry,
            option=client.write_option(last_update_time=snapshot.update_time),
            **db.call_options(),
        )
    except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
        # Another retry took the key first, or ours was applied and its answer lost.
        if _ours(ref, attempt) is None:
            if isinstance(exc, gexc.FailedPrecondition | gexc.Aborted):
                raise booking_error(Reason.IN_PROGRESS) from None
            raise
    return Claimed(op_id, str(existing.get("enquiryId") or enquiry_id))


def _ours(ref: Any, attempt: str) -> dict[str, Any] | None:
    """The operation if this attempt's claim is what it holds (read back after an error)."""
    snapshot = ref.get(**db.call_options())
    data = snapshot.to_dict() if snapshot.exists else None
    return data if data is not None and data.get("attemptId") == attempt else None


def ref(client: Client, op_id: str) -> Any:
    return client.collection(OPERATIONS).document(op_id)


def mark(client: Client, op_id: str, status: OpStatus, **fields: Any) -> None:
    ref(client, op_id).update(
        {
            "status": status.value,
            "updatedAt": clock.now(),
            **retention.operation_fields(status),
            **fields,
        },
        **db.call_options(),
    )


def settle(client: Client, op_id: str, status: OpStatus, **fields: Any) -> bool:
    """Give the operation its final status: tried twice, since a key left IN_PROGRESS is
    blocked until a person clears it. When both tries fail, an ERROR says which command
    clears it."""
    for attempt in (1, 2):
        try:
            mark(client, op_id, status, **fields)
            return True
        except Exception as exc:
            if attempt == 2:
                logger.error(
                    NOT_SETTLED_MESSAGE,
                    operationId=op_id,
                    intended=status.value,
                    cause=type(exc).__name__,
                    clear=f"python -m visn operations resolve {op_id} "
                    + ("--not-booked" if status in _RETRYABLE else "(after checking the DMS)"),
                )
    return False


def read(client: Client, op_id: str) -> dict[str, Any] | None:
    snapshot = ref(client, op_id).get(**db.call_options())
    return snapshot.to_dict() if snapshot.exists else None


def saved(client: Client, op_id: str, appointment_id: str) -> bool | None:
    """After the final write raised: was it applied? None when we cannot tell (read failed).

    The final write completes the operation atomically with the enquiry, so the operation's
    status answers for both.
    """
    try:
        data = read(client, op_id)
    except Exception:
        return None
    if data is None:
        return False
    result = data.get("result") or {}
    return (
        data.get("status") == OpStatus.COMPLETED and result.get("appointmentId") == appointment_id
    )


def completed_result(
    client: Client, uid: str, idempotency_key: str, request_hash: str
) -> dict[str, Any] | None:
    """The stored result when this very request already completed under this key."""
    snapshot = ref(client, operation_id(uid, idempotency_key)).get(**db.call_options())
    data = snapshot.to_dict() if snapshot.exists else None
    if (
        data
        and data.get("requestHash") == request_hash
        and data.get("status") == OpStatus.COMPLETED
    ):
        return dict(data.get("result") or {})
    return None
