"""The reconciler: no Keyloop appointment is left behind that no enquiry points to.

Each run, in this order:
1. Operations stuck past their time (a process died mid-saga):
   - BOOKED (Keyloop booked, enquiry never written): compensate, i.e. put the appointment on
     a compensation record, to be cancelled in step 2 of this same run;
   - IN_PROGRESS (died around the Keyloop call; an appointment may exist that we cannot look
     up, Keyloop has no search by our reference): OUTCOME_UNKNOWN, for a person.
2. Pending compensations whose time has come: cancel in Keyloop (404 = done), with back-off
   between runs; after `max_attempts` failures, NEEDS_ATTENTION for a person.

Two reconcilers may run at once (the schedule overlapping a manual run): every item is
claimed with a conditional write on the version we read, and only the winner works on it.
Items within their time are never touched.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from firebase_functions import logger
from google.api_core import exceptions as gexc
from google.cloud.firestore import Client

from keyloop import KeyloopError

from . import clock, compensations, db, retention
from .clients import firestore_client, keyloop_client
from .compensations import COMPENSATIONS, CompensationStatus
from .operations import OPERATIONS, OpStatus

# Stable messages for alerts (docs/operations.md).
NEEDS_ATTENTION_MESSAGE = "BOOKING_NEEDS_ATTENTION: a person must check the dealer's diary"


@dataclass(frozen=True)
class ReconcilerSettings:
    stuck_after: timedelta = timedelta(minutes=10)  # well past a callable's 60 s timeout
    max_attempts: int = 5
    first_backoff: timedelta = timedelta(minutes=5)
    max_backoff: timedelta = timedelta(hours=2)
    lease: timedelta = timedelta(minutes=2)  # a claimed item is left alone this long
    batch_limit: int = 200


@dataclass
class RunReport:
    run_id: str
    cancelled: list[str] = field(default_factory=list)
    retry_later: list[str] = field(default_factory=list)
    needs_attention: list[str] = field(default_factory=list)
    stale_compensated: list[str] = field(default_factory=list)
    stale_outcome_unknown: list[str] = field(default_factory=list)
    lost_claims: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            "cancelled": len(self.cancelled),
            "retryLater": len(self.retry_later),
            "needsAttention": len(self.needs_attention),
            "staleCompensated": len(self.stale_compensated),
            "staleOutcomeUnknown": len(self.stale_outcome_unknown),
            "lostClaims": self.lost_claims,
        }


def reconcile(settings: ReconcilerSettings | None = None) -> RunReport:
    settings = settings or ReconcilerSettings()
    client = firestore_client()
    report = RunReport(run_id=uuid.uuid4().hex[:12])
    for snapshot in _stale_operations(client, settings):
        _settle_stale_operation(client, snapshot, settings, report)
    for snapshot in _due_compensations(client, settings):
        _work_compensation(client, snapshot, settings, report)
    logger.info("reconciler run finished", **report.as_dict())
    return report


# -- stale operations --------------------------------------------------------------------------


def _stale_operations(client: Client, settings: ReconcilerSettings) -> Iterable[Any]:
    cutoff = clock.now() - settings.stuck_after
    ops = client.collection(OPERATIONS)
    for status in (OpStatus.BOOKED, OpStatus.IN_PROGRESS):
        query = (
            ops.where(filter=_field("status", "==", status.value))
            .where(filter=_field("updatedAt", "<", cutoff))
            .limit(settings.batch_limit)
        )
        yield from query.stream(**db.call_options())


def _settle_stale_operation(
    client: Client, snapshot: Any, settings: ReconcilerSettings, report: RunReport
) -> None:
    op = snapshot.to_dict() or {}
    now = clock.now()
    if op.get("status") == OpStatus.BOOKED and op.get("appointmentId") and op.get("store"):
        store = compensations.store_from(op["store"])
        owed = compensations.record(
            store,
            op["appointmentId"],
            supplier_id=op.get("supplierId", ""),
            operation_id=snapshot.id,
            why="STALE_OPERATION",
        )
        batch = client.batch()
        batch.update(
            snapshot.reference,
            {"status": OpStatus.COMPENSATING.value, "updatedAt": now},
            option=client.write_option(last_update_time=snapshot.update_time),
        )
        batch.set(
            client.collection(COMPENSATIONS).document(
                compensations.compensation_id(store, op["appointmentId"])
            ),
            owed,
        )
        if _claimed(lambda: batch.commit(**db.call_options()), report):
            report.stale_compensated.append(snapshot.id)
        return
    # IN_PROGRESS (or BOOKED without what a cancel needs): only a person can tell.
    claimed = _claimed(
        lambda: snapshot.reference.update(
            {"status": OpStatus.OUTCOME_UNKNOWN.value, "updatedAt": now, "attention": "STALE"},
            option=client.write_option(last_update_time=snapshot.update_time),
            **db.call_options(),
        ),
        report,
    )
    if claimed:
        report.stale_outcome_unknown.append(snapshot.id)
        logger.error(
            NEEDS_ATTENTION_MESSAGE,
            why="STALE_OPERATION_OUTCOME_UNKNOWN",
            operationId=snapshot.id,
            supplierId=op.get("supplierId"),
            appointmentId=op.get("appointmentId"),
        )


# -- compensations -----------------------------------------------------------------------------


def _due_compensations(client: Client, settings: ReconcilerSettings) -> Iterable[Any]:
    query = (
        client.collection(COMPENSATIONS)
        .where(filter=_field("status", "==", CompensationStatus.PENDING.value))
        .where(filter=_field("nextAttemptAt", "<=", clock.now()))
        .limit(settings.batch_limit)
    )
    return list(query.stream(**db.call_options()))


def _work_compensation(
    client: Client, snapshot: Any, settings: ReconcilerSettings, report: RunReport
) -> None:
    record = snapshot.to_dict() or {}
    now = clock.now()
    # Claim: push the next attempt past the lease, on the version we read. A second
    # reconciler that read the same version loses here and moves on.
    claimed = _claimed(
        lambda: snapshot.reference.update(
            {"nextAttemptAt": now + settings.lease, "claimedBy": report.run_id, "updatedAt": now},
            option=client.write_option(last_update_time=snapshot.update_time),
            **db.call_options(),
        ),
        report,
    )
    if not claimed:
        return
    store = compensations.store_from(record)
    try:
        keyloop_client().cancel_appointment(store, record["appointmentId"])
    except KeyloopError as exc:
        _failed_attempt(snapshot, record, exc, settings, report)
        return
    snapshot.reference.update(
        {
            "status": CompensationStatus.DONE.value,
            "updatedAt": clock.now(),
            "doneBy": report.run_id,
            **retention.compensation_done_fields(),
        },
        **db.call_options(),
    )
    _close_operation(client, record.get("operationId"))
    report.cancelled.append(snapshot.id)


def _failed_attempt(
    snapshot: Any,
    record: dict[str, Any],
    exc: KeyloopError,
    settings: ReconcilerSettings,
    report: RunReport,
) -> None:
    attempts = int(record.get("attempts") or 0) + 1
    update: dict[str, Any] = {
        "attempts": attempts,
        "lastError": compensations.error_summary(exc),
        "updatedAt": clock.now(),
    }
    if attempts >= settings.max_attempts:
        update["status"] = CompensationStatus.NEEDS_ATTENTION.value
        report.needs_attention.append(snapshot.id)
        logger.error(
            NEEDS_ATTENTION_MESSAGE,
            why="CANCEL_FAILED_REPEATEDLY",
            appointmentId=record.get("appointmentId"),
            supplierId=record.get("supplierId"),
            operationId=record.get("operationId"),
            attempts=attempts,
            compensationId=snapshot.id,
        )
    else:
        update["nextAttemptAt"] = clock.now() + _backoff(attempts, settings)
        report.retry_later.append(snapshot.id)
    snapshot.reference.update(update, **db.call_options())


def _backoff(attempts: int, settings: ReconcilerSettings) -> timedelta:
    delay: timedelta = settings.first_backoff * (2 ** max(attempts - 1, 0))
    return min(delay, settings.max_backoff)


def _close_operation(client: Client, operation_id: str | None) -> None:
    """An operation waiting on this cancel has nothing booked any more: its key is free."""
    if not operation_id:
        return
    ref = client.collection(OPERATIONS).document(operation_id)
    snapshot = ref.get(**db.call_options())
    if snapshot.exists and (snapshot.to_dict() or {}).get("status") == OpStatus.COMPENSATING:
        ref.update(
            {
                "status": OpStatus.COMPENSATED.value,
                "updatedAt": clock.now(),
                **retention.operation_fields(OpStatus.COMPENSATED),
            },
            option=client.write_option(last_update_time=snapshot.update_time),
            **db.call_options(),
        )


# -- helpers -----------------------------------------------------------------------------------


def _claimed(write: Any, report: RunReport) -> bool:
    try:
        write()
    except (gexc.FailedPrecondition, gexc.Aborted, gexc.NotFound):
        report.lost_claims += 1
        return False
    return True


def _field(path: str, op: str, value: Any) -> Any:
    from google.cloud.firestore import FieldFilter

    return FieldFilter(path, op, value)
