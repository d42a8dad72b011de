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

One writer wins: every write a saga makes to its operation is conditional on the version of
its own last write (`Held.update_time`). When the operation has moved on meanwhile (the
reconciler took a saga it thought dead, a person resolved it, a retry took the key), the
write is refused and the saga reads again (`OperationLostError`): it never overwrites. The whole
table of transitions is in docs/decisions.md ("Who may change what").

The enquiry number is taken before Keyloop is asked, in the claim's own commit, and kept on
the operation (`claims.claim(numbered=True)`; `take_number` for an operation that has none). An
operation that ends without its enquiry (FAILED, COMPENSATED) puts that number on ViSN's
abandoned list in the same commit (`settle`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from firebase_functions import logger
from google.api_core import exceptions as gexc
from google.cloud.firestore import Client

from visn.infra import clock, db
from visn.records import enquiry_numbers, retention
from visn.records.namespace import OPERATIONS as OPERATIONS  # noqa: PLC0414 (re-exported, its old home)


class OpStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    BOOKED = "BOOKED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
    COMPENSATED = "COMPENSATED"
    COMPENSATING = "COMPENSATING"


RETRYABLE = frozenset({OpStatus.FAILED, OpStatus.COMPENSATED})
# A stable message an alert can match (docs/operations.md).
NOT_SETTLED_MESSAGE = "OPERATION_NOT_SETTLED: an operation could not be given its final status"


def operation_id(uid: str, idempotency_key: str) -> str:
    return hashlib.sha256(f"{uid}\n{idempotency_key}".encode()).hexdigest()[:40]


def fingerprint(kind: str, payload: dict[str, Any]) -> str:
    """Same key, same request? Compared on a hash: the op document holds no personal data."""
    canonical = json.dumps([kind, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Held:
    """This attempt's hold on its operation: the version (update time) of its last write, and
    the enquiry number it took. Every write it makes is conditional on `update_time`."""

    op_id: str
    attempt_id: str
    update_time: Any
    number: int | None = None


@dataclass(frozen=True)
class Claimed:
    op_id: str
    enquiry_id: str
    held: Held


@dataclass(frozen=True)
class Replay:
    result: dict[str, Any]


class OperationLostError(RuntimeError):
    """The operation moved on from the version this attempt held: another writer (the
    reconciler, a person, a retry of the key) decided it. The attempt must not write it."""

    def __init__(self, op_id: str, current: dict[str, Any] | None) -> None:
        super().__init__(f"operation {op_id} moved on (now {(current or {}).get('status')})")
        self.op_id = op_id
        self.current = current


def ref(client: Client, op_id: str) -> Any:
    return client.collection(OPERATIONS).document(op_id)


def guard(client: Client, held: Held) -> Any:
    """The precondition of every write of this attempt: the operation is as it last wrote it."""
    return client.write_option(last_update_time=held.update_time)


def fields_for(status: OpStatus, **fields: Any) -> dict[str, Any]:
    return {
        "status": status.value,
        "updatedAt": clock.now(),
        **retention.operation_fields(status),
        **fields,
    }


def advance(client: Client, held: Held, status: OpStatus, **fields: Any) -> Held:
    """Move this attempt's operation to `status`, conditional on the version it holds.

    Raises OperationLostError when another writer moved it meanwhile; another error when the
    write may not have been applied (the read-back could not tell, or it was refused)."""
    try:
        written = ref(client, held.op_id).update(
            fields_for(status, **fields), option=guard(client, held), **db.call_options()
        )
        return replace(held, update_time=written.update_time)
    except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
        return _after_failed_write(client, held, status, fields, exc)


def _after_failed_write(
    client: Client, held: Held, status: OpStatus, fields: dict[str, Any], exc: Exception
) -> Held:
    """Read back after a write that raised: applied (its answer lost, or the client's retry
    met its own write) is success; moved on by another writer is OperationLostError."""
    snapshot = ref(client, held.op_id).get(**db.call_options())
    current = snapshot.to_dict() if snapshot.exists else None
    if _is(current, held, status, fields):
        return replace(held, update_time=snapshot.update_time)
    if current is None or snapshot.update_time != held.update_time:
        raise OperationLostError(held.op_id, current) from exc
    raise exc


def _is(
    current: dict[str, Any] | None, held: Held, status: OpStatus, fields: dict[str, Any]
) -> bool:
    if current is None or current.get("attemptId") != held.attempt_id:
        return False
    if current.get("status") != status.value:
        return False
    return all(current.get(k) == fields[k] for k in ("appointmentId",) if k in fields)


def retake(client: Client, held: Held, status: OpStatus, **fields: Any) -> Held | None:
    """After OperationLostError: when the writer that moved the operation on was the
    reconciler taking this very attempt for dead (`OUTCOME_UNKNOWN`, its guess for a call that
    stalled), this attempt knows better and takes it back, conditional on that version: the
    operation `status` again, as it meant to write. None when another writer decided it (a
    person, a retry of the key), or the operation cannot be read."""
    try:
        snapshot = ref(client, held.op_id).get(**db.call_options())
    except (gexc.GoogleAPICallError, gexc.RetryError):
        return None
    current = snapshot.to_dict() if snapshot.exists else None
    if (
        current is None
        or current.get("attemptId") != held.attempt_id
        or current.get("status") != OpStatus.OUTCOME_UNKNOWN
    ):
        return None
    taken = replace(held, update_time=snapshot.update_time)
    try:
        return advance(client, taken, status, attention=None, **fields)
    except (OperationLostError, gexc.GoogleAPICallError, gexc.RetryError):
        return None


def take_number(client: Client, held: Held, *, wait_seconds: float) -> Held:
    """Take ViSN's next enquiry number for this attempt, before Keyloop is asked, and keep it
    on the operation in the same commit (conditional on the version held).

    Raises CounterBusyError (nothing taken, retryable), OperationLostError, or a Firestore error."""
    op = ref(client, held.op_id)

    def write(transaction: Any, number: int) -> None:
        transaction.update(
            op,
            {enquiry_numbers.FIELD: number, "updatedAt": clock.now()},
            option=guard(client, held),
        )

    try:
        number, results = enquiry_numbers.take_with(client, write, wait_seconds=wait_seconds)
    except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
        snapshot = op.get(**db.call_options())
        current = snapshot.to_dict() if snapshot.exists else None
        taken = enquiry_numbers.number_of(current or {})
        if current and current.get("attemptId") == held.attempt_id and taken is not None:
            return replace(held, update_time=snapshot.update_time, number=taken)
        if current is None or snapshot.update_time != held.update_time:
            raise OperationLostError(held.op_id, current) from exc
        raise
    return replace(held, update_time=results[-1].update_time, number=number)


def settle(client: Client, held: Held, status: OpStatus, **fields: Any) -> bool:
    """Give the operation its final status, conditional on the version held; an operation
    that ends without its enquiry puts its number on the abandoned list in the same commit.
    Tried twice, since a key left IN_PROGRESS is blocked until a person clears it. When both
    tries fail, an ERROR says which command clears it. False when not settled by us (another
    writer decided it: theirs to finish; or both tries failed)."""
    for attempt in (1, 2):
        try:
            _settle_once(client, held, status, fields)
            return True
        except Exception as exc:
            found = _settled_after_failure(client, held, status, fields, exc)
            if found is not None:
                return found
            if attempt == 2:
                logger.error(
                    NOT_SETTLED_MESSAGE,
                    operationId=held.op_id,
                    intended=status.value,
                    cause=type(exc).__name__,
                    clear=f"python -m visn operations resolve {held.op_id} "
                    + ("--not-booked" if status in RETRYABLE else "(after checking the DMS)"),
                )
    return False


def _settle_once(client: Client, held: Held, status: OpStatus, fields: dict[str, Any]) -> None:
    batch = client.batch()
    batch.update(ref(client, held.op_id), fields_for(status, **fields), option=guard(client, held))
    if status in RETRYABLE and held.number is not None:
        enquiry_numbers.abandon(batch, client, held.number, held.op_id)
    batch.commit(**db.call_options())


def _settled_after_failure(
    client: Client, held: Held, status: OpStatus, fields: dict[str, Any], exc: Exception
) -> bool | None:
    """True: applied after all; False: another writer decided it (theirs to finish); None:
    still ours and not settled, or the read-back failed too."""
    try:
        _after_failed_write(client, held, status, fields, exc)
    except OperationLostError as lost:
        logger.warn(
            "operation decided by another writer: left to it",
            operationId=held.op_id,
            intended=status.value,
            now=(lost.current or {}).get("status"),
        )
        return False
    except Exception:
        return None
    return True


def read(client: Client, op_id: str) -> dict[str, Any] | None:
    snapshot = ref(client, op_id).get(**db.call_options())
    return snapshot.to_dict() if snapshot.exists else None


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
