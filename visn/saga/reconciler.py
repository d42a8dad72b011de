"""The reconciler: no Keyloop appointment is left behind that no enquiry points to.

Each run, in this order, each item on its own (one failure is logged and counted, and the run
goes on; every query is read in full before anything is written):
1. Operations stuck past their time (a process died mid-saga, or a call could not tell):
   - BOOKED (Keyloop booked, enquiry never written): compensate, i.e. put the appointment on
     a compensation record, to be cancelled in step 3 of this same run;
   - COMPENSATING whose record is missing (Firestore failed with Keyloop): record it again;
   - IN_PROGRESS (died around the Keyloop call; an appointment may exist that we cannot look
     up, Keyloop has no search by our reference): OUTCOME_UNKNOWN, for a person.
2. Compensations DONE but not settled (a person marked one done by hand): close what waited
   on them (the operation COMPENSATED, the enquiry CANCELLED).
3. Pending compensations whose time has come: cancel in Keyloop (its own 404 = done), close
   what waited on them; with back-off between runs, and after `max_attempts` failures,
   NEEDS_ATTENTION for a person.

Two reconcilers may run at once (the schedule overlapping a manual run): every item is
claimed with a conditional write on the version we read, and only the winner works on it.
Items within their time are never touched.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from firebase_functions import logger
from google.api_core import exceptions as gexc
from google.cloud.firestore import Client

from keyloop import KeyloopError
from visn.infra import clock, db
from visn.infra.clients import firestore_client, keyloop_client
from visn.records import enquiries, enquiry_numbers, retention, store_record
from visn.saga import backlog, compensations
from visn.saga.cancel import settle_cancelled
from visn.saga.compensations import COMPENSATIONS, CompensationStatus
from visn.saga.operations import OPERATIONS, OpStatus

# Stable messages for alerts (docs/operations.md).
NEEDS_ATTENTION_MESSAGE = "BOOKING_NEEDS_ATTENTION: a person must check the dealer's diary"
ITEM_FAILED_MESSAGE = "RECONCILER_ITEM_FAILED: one item could not be handled this run"
# A saga runs at most a callable's 60 s timeout; an item younger than this may still be in
# the hands of a live call, so no setting may make the reconciler touch it.
MIN_STUCK_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class ReconcilerSettings:
    stuck_after: timedelta = timedelta(minutes=10)  # well past a callable's 60 s timeout
    max_attempts: int = 5
    first_backoff: timedelta = timedelta(minutes=5)
    max_backoff: timedelta = timedelta(hours=2)
    lease: timedelta = timedelta(minutes=2)  # a claimed item is left alone this long
    batch_limit: int = 200

    def __post_init__(self) -> None:
        if self.stuck_after < MIN_STUCK_AFTER:
            raise ValueError(f"stuck_after must be at least {MIN_STUCK_AFTER}")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


class ReconcilerIncomplete(RuntimeError):  # noqa: N818 (a run, not an error of the items)
    """A run could not read some of its work (a query failed): it did what it could, and
    says so, so that the scheduled run counts as failed."""

    def __init__(self, report: RunReport) -> None:
        super().__init__(f"reconciler run {report.run_id}: {report.queries_failed} queries failed")
        self.report = report


@dataclass
class RunReport:
    run_id: str
    cancelled: list[str] = field(default_factory=list)
    retry_later: list[str] = field(default_factory=list)
    needs_attention: list[str] = field(default_factory=list)
    stale_compensated: list[str] = field(default_factory=list)
    stale_outcome_unknown: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    queries_failed: int = 0
    lost_claims: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            "cancelled": len(self.cancelled),
            "retryLater": len(self.retry_later),
            "needsAttention": len(self.needs_attention),
            "staleCompensated": len(self.stale_compensated),
            "staleOutcomeUnknown": len(self.stale_outcome_unknown),
            "settled": len(self.settled),
            "failed": len(self.failed),
            "queriesFailed": self.queries_failed,
            "lostClaims": self.lost_claims,
        }


def reconcile(settings: ReconcilerSettings | None = None) -> RunReport:
    settings = settings or ReconcilerSettings()
    client = firestore_client()
    report = RunReport(run_id=uuid.uuid4().hex[:12])
    steps: list[tuple[str, Callable[[], list[Any]], Callable[[Any], None]]] = [
        (
            "stale-operation",
            lambda: _stale_operations(client, settings),
            lambda s: _settle_stale_operation(client, s, report),
        ),
        (
            "unsettled-compensation",
            lambda: _unsettled_compensations(client, settings),
            lambda s: _close_waiters(client, s.to_dict() or {}, s, report),
        ),
        (
            "compensation",
            lambda: _due_compensations(client, settings),
            lambda s: _work_compensation(client, s, settings, report),
        ),
    ]
    for kind, query, work in steps:
        try:
            items = query()
        except Exception as exc:
            report.queries_failed += 1
            _item_failed(report, kind, "query", exc)
            continue
        for snapshot in items:
            try:
                work(snapshot)
            except Exception as exc:
                _item_failed(report, kind, snapshot.id, exc)
    logger.info("reconciler run finished", **report.as_dict(), **backlog.waiting(client))
    if report.queries_failed:
        raise ReconcilerIncomplete(report)
    return report


def _item_failed(report: RunReport, kind: str, item: str, exc: Exception) -> None:
    report.failed.append(f"{kind}:{item}")
    logger.error(
        ITEM_FAILED_MESSAGE, runId=report.run_id, kind=kind, item=item, error=type(exc).__name__
    )


# -- stale operations --------------------------------------------------------------------------


def _stale_operations(client: Client, settings: ReconcilerSettings) -> list[Any]:
    cutoff = clock.now() - settings.stuck_after
    ops = client.collection(OPERATIONS)
    found: list[Any] = []
    for status in (OpStatus.BOOKED, OpStatus.COMPENSATING, OpStatus.IN_PROGRESS):
        query = (
            ops.where(filter=_field("status", "==", status.value))
            .where(filter=_field("updatedAt", "<", cutoff))
            .limit(settings.batch_limit)
        )
        found.extend(query.stream(**db.call_options()))
    return found


def _settle_stale_operation(client: Client, snapshot: Any, report: RunReport) -> None:
    op = snapshot.to_dict() or {}
    status = op.get("status")
    cancellable = op.get("appointmentId") and op.get("store")
    if status in (OpStatus.BOOKED, OpStatus.COMPENSATING) and cancellable:
        _owe_cancel(client, snapshot, op, report)
        return
    if status == OpStatus.COMPENSATING:
        return  # nothing we can cancel without its store: its record is a person's (logged)
    # IN_PROGRESS (or BOOKED without what a cancel needs): only a person can tell.
    now = clock.now()
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
            clear=f"python -m visn operations resolve {snapshot.id} "
            "--booked APPOINTMENT_ID | --not-booked",
        )


def _owe_cancel(client: Client, snapshot: Any, op: dict[str, Any], report: RunReport) -> None:
    """A BOOKED operation's appointment onto a compensation record (the operation becomes
    COMPENSATING), or a COMPENSATING operation's record written again if it is missing."""
    store = store_record.store_from(op["store"])
    record_ref = compensations.ref(client, store, op["appointmentId"])
    if op.get("status") == OpStatus.COMPENSATING:
        existing = record_ref.get(**db.call_options())
        if existing.exists:
            return  # the record is being worked (or waits for a person): nothing to add
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
        {"status": OpStatus.COMPENSATING.value, "updatedAt": clock.now()},
        option=client.write_option(last_update_time=snapshot.update_time),
    )
    batch.set(record_ref, owed)
    if _claimed(lambda: batch.commit(**db.call_options()), report):
        report.stale_compensated.append(snapshot.id)


# -- compensations -----------------------------------------------------------------------------


def _unsettled_compensations(client: Client, settings: ReconcilerSettings) -> list[Any]:
    query = (
        client.collection(COMPENSATIONS)
        .where(filter=_field("status", "==", CompensationStatus.DONE.value))
        .where(filter=_field("settled", "==", False))
        .limit(settings.batch_limit)
    )
    return list(query.stream(**db.call_options()))


def _due_compensations(client: Client, settings: ReconcilerSettings) -> list[Any]:
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
    store = store_record.store_from(record)
    try:
        keyloop_client().cancel_appointment(store, record["appointmentId"])
    except KeyloopError as exc:
        _failed_attempt(snapshot, record, exc, settings, report)
        return
    report.cancelled.append(snapshot.id)
    snapshot.reference.update(
        {
            "status": CompensationStatus.DONE.value,
            "updatedAt": clock.now(),
            "doneBy": report.run_id,
            **retention.compensation_done_fields(),
        },
        **db.call_options(),
    )
    _close_waiters(client, record, snapshot, report)


def _close_waiters(
    client: Client, record: dict[str, Any], snapshot: Any, report: RunReport
) -> None:
    """The cancel is done: what waited on it is closed, then the record is settled."""
    store = store_record.store_from(record)
    if record.get("enquiryId") and not settle_cancelled(
        client, record["enquiryId"], store, record["appointmentId"], enquiries.SYSTEM
    ):
        raise RuntimeError("enquiry not settled")  # counted; the next run tries again
    _close_operation(client, record.get("operationId"))
    snapshot.reference.update(
        {"settled": True, "updatedAt": clock.now(), **retention.compensation_done_fields()},
        **db.call_options(),
    )
    report.settled.append(snapshot.id)


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
            enquiryId=record.get("enquiryId"),
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
    """An operation waiting on this cancel has nothing booked any more: its key is free, and
    the enquiry number it took goes on ViSN's abandoned list in the same commit. Conditional
    on the operation as read (a lost race fails the item; the next run reads again)."""
    if not operation_id:
        return
    ref = client.collection(OPERATIONS).document(operation_id)
    snapshot = ref.get(**db.call_options())
    op = snapshot.to_dict() if snapshot.exists else None
    if op is None or op.get("status") != OpStatus.COMPENSATING:
        return
    batch = client.batch()
    batch.update(
        ref,
        {
            "status": OpStatus.COMPENSATED.value,
            "updatedAt": clock.now(),
            **retention.operation_fields(OpStatus.COMPENSATED),
        },
        option=client.write_option(last_update_time=snapshot.update_time),
    )
    number = enquiry_numbers.number_of(op)
    if number is not None:
        enquiry_numbers.abandon(batch, client, number, operation_id)
    batch.commit(**db.call_options())


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
