"""Booking operations: one document per (user, idempotency key), the saga's durable state.

`liveDiary_bookingOperations/{opId}` (visn.namespace) is written before Keyloop is called,
so every appointment we make is traceable (Keyloop gets the op id as
`details.externalReference`) and a replay of the same key never books twice. Status moves:

    IN_PROGRESS -> BOOKED (appointment recorded) -> COMPLETED (enquiry written)
    IN_PROGRESS -> FAILED (nothing booked; the key may be tried again)
    IN_PROGRESS -> OUTCOME_UNKNOWN (Keyloop may have booked; a person checks)
    BOOKED -> COMPENSATED (appointment cancelled; the key may be tried again)
    BOOKED -> COMPENSATING (cancel failed; a compensation record holds the appointment)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.firestore import Client

from . import clock, db, retention, telemetry
from .errors import Reason, booking_error
from .namespace import OPERATIONS as OPERATIONS  # noqa: PLC0414 (re-exported, its old home)


class OpStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    BOOKED = "BOOKED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
    COMPENSATED = "COMPENSATED"
    COMPENSATING = "COMPENSATING"


_RETRYABLE = frozenset({OpStatus.FAILED, OpStatus.COMPENSATED})


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
) -> Claimed | Replay:
    """Claim the key before anything is booked, or tell what an earlier attempt left."""
    op_id = operation_id(uid, idempotency_key)
    telemetry.annotate(operationId=op_id)
    ref = client.collection(OPERATIONS).document(op_id)
    document = {
        "kind": kind,
        "uid": uid,
        "customerId": customer_id,
        "supplierId": supplier_id,
        "enquiryId": enquiry_id,
        "requestHash": request_hash,
        "status": OpStatus.IN_PROGRESS.value,
        "attempts": 1,
        "createdAt": clock.now(),
        "updatedAt": clock.now(),
    }
    try:
        ref.create(document, **db.call_options())
        return Claimed(op_id, enquiry_id)
    except gexc.AlreadyExists:
        pass
    snapshot = ref.get(**db.call_options())
    existing = snapshot.to_dict() or {}
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
        "appointmentId": None,
        "error": None,
        "updatedAt": clock.now(),
        **retention.operation_fields(OpStatus.IN_PROGRESS),
    }
    try:
        ref.update(
            retry,
            option=client.write_option(last_update_time=snapshot.update_time),
            **db.call_options(),
        )
    except (gexc.FailedPrecondition, gexc.Aborted):
        raise booking_error(Reason.IN_PROGRESS) from None
    return Claimed(op_id, str(existing.get("enquiryId") or enquiry_id))


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
