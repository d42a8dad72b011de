"""Appointments that must still be cancelled in Keyloop: durable records for the reconciler.

`liveDiary_compensations/{id}` (visn.records.namespace) holds everything needed to cancel without
the supplier's config (which may change meanwhile). Written whenever a cancel we owe could
not be done at once; the reconciler retries them with back-off and hands them to a person
after repeated failures.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from enum import StrEnum
from typing import Any

from firebase_functions import logger
from google.cloud.firestore import Client

from keyloop import KeyloopError, Store
from visn.infra import clock, db
from visn.records import retention
from visn.records.namespace import COMPENSATIONS as COMPENSATIONS  # noqa: PLC0414 (re-exported, its old home)
from visn.records.store_record import store_fields

# A stable message an alert can match (docs/operations.md).
CANCEL_OWED_MESSAGE = "KEYLOOP_CANCEL_OWED: appointment must be cancelled in Keyloop"


class CompensationStatus(StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"


def compensation_id(store: Store, appointment_id: str) -> str:
    key = f"{store.enterprise_id}/{store.store_id}/{appointment_id}"
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def record(
    store: Store,
    appointment_id: str,
    *,
    supplier_id: str,
    operation_id: str | None,
    why: str,
    not_before: timedelta = timedelta(0),
    error: KeyloopError | None = None,
    enquiry_id: str | None = None,
) -> dict[str, Any]:
    """The document of an owed cancel (to write alone or inside a batch).

    `settled` turns true once what waits on the cancel (an operation COMPENSATING, an enquiry
    CANCELLING) has been closed: the reconciler closes them for a record that a person set
    to DONE by hand too.
    """
    return {
        "status": CompensationStatus.PENDING.value,
        "appointmentId": appointment_id,
        **store_fields(store),
        "supplierId": supplier_id,
        "operationId": operation_id,
        "enquiryId": enquiry_id,
        "settled": False,
        "why": why,
        "attempts": 0 if error is None else 1,
        "lastError": error_summary(error),
        "nextAttemptAt": clock.now() + not_before,
        "createdAt": clock.now(),
        "updatedAt": clock.now(),
    }


def error_summary(error: KeyloopError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "type": type(error).__name__,
        "status": error.status,
        "faultCode": error.fault_code,
        "correlationId": error.correlation_id,
    }


def save(client: Client, store: Store, appointment_id: str, **kwargs: Any) -> bool:
    """Write the record; False (and an ERROR log) when even that fails."""
    document = record(store, appointment_id, **kwargs)
    try:
        ref(client, store, appointment_id).set(document, **db.call_options())
        return True
    except Exception as exc:
        log_cancel_owed(document, durable=False, cause=type(exc).__name__)
        return False


def ref(client: Client, store: Store, appointment_id: str) -> Any:
    return client.collection(COMPENSATIONS).document(compensation_id(store, appointment_id))


def done_fields(**extra: Any) -> dict[str, Any]:
    """A record whose cancel is done and whose waiters are closed."""
    return {
        "status": CompensationStatus.DONE.value,
        "settled": True,
        "updatedAt": clock.now(),
        **retention.compensation_done_fields(),
        **extra,
    }


def mark_done(client: Client, store: Store, appointment_id: str) -> None:
    ref(client, store, appointment_id).update(done_fields(), **db.call_options())


def log_cancel_owed(document: dict[str, Any], *, durable: bool, cause: str | None = None) -> None:
    logger.error(
        CANCEL_OWED_MESSAGE,
        appointmentId=document["appointmentId"],
        supplierId=document["supplierId"],
        operationId=document["operationId"],
        enterpriseId=document["enterpriseId"],
        storeId=document["storeId"],
        why=document["why"],
        durable=durable,
        cause=cause,
    )
