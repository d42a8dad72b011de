"""What only a person can settle, and the commands that settle it correctly.

    python -m visn operations list --state OUTCOME_UNKNOWN|NEEDS_ATTENTION
    python -m visn operations resolve OPID --booked APPOINTMENT_ID | --not-booked

`--not-booked`: the person found no appointment in the dealer's diary. The operation becomes
FAILED, so its key may be tried again.

`--booked APPOINTMENT_ID`: the person found the appointment (its external reference is the
operation id). It is kept and recorded as what the operation should have made, when that is
still possible: a createBooking's enquiry is written from the details kept on the operation;
a rearrangeBooking's enquiry is moved onto it (and the old appointment's cancel owed) if the
enquiry is still where the operation found it. Otherwise the appointment is not wanted: its
cancel is owed on a compensation record, which the reconciler carries out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from google.api_core import exceptions as gexc
from google.cloud.firestore import Client

from keyloop import Appointment
from visn.infra import clock, db
from visn.records import enquiries, enquiry_numbers, store_record
from visn.saga import compensations, operations
from visn.saga.booking import KIND as CREATE_KIND
from visn.saga.booking import write_enquiry
from visn.saga.compensations import COMPENSATIONS, CompensationStatus
from visn.saga.operations import OPERATIONS, Held, OperationLostError, OpStatus
from visn.saga.rearrange import KIND as REARRANGE_KIND
from visn.saga.rearrange import move_enquiry

STATES = ("OUTCOME_UNKNOWN", "NEEDS_ATTENTION")
_RESOLVABLE = frozenset({OpStatus.OUTCOME_UNKNOWN, OpStatus.IN_PROGRESS})


class ResolveError(Exception):
    """The operation cannot be resolved that way; the message says why (no personal data)."""


@dataclass(frozen=True)
class Resolution:
    operation_id: str
    status: str  # the operation's status afterwards
    action: str  # what was done, in a few words


def list_items(client: Client, state: str, out: TextIO) -> int:
    """One line per item, ids only (never contact details). Returns how many."""
    describe: Callable[[str, dict[str, Any]], str]
    if state == "OUTCOME_UNKNOWN":
        collection, status, describe = OPERATIONS, OpStatus.OUTCOME_UNKNOWN.value, _operation_line
    else:
        collection, status = COMPENSATIONS, CompensationStatus.NEEDS_ATTENTION.value
        describe = _compensation_line
    query = client.collection(collection).where(filter=_field("status", "==", status))
    rows = [(s.id, describe(s.id, s.to_dict() or {})) for s in query.stream(**db.call_options())]
    for _, line in sorted(rows):
        out.write(line + "\n")
    return len(rows)


def _operation_line(op_id: str, d: dict[str, Any]) -> str:
    return (
        f"operation {op_id} kind={d.get('kind')} supplier={d.get('supplierId')} "
        f"enquiry={d.get('enquiryId')} store={_store(d.get('store'))} "
        f"updatedAt={_when(d.get('updatedAt'))}"
    )


def _compensation_line(record_id: str, d: dict[str, Any]) -> str:
    return (
        f"compensation {record_id} appointment={d.get('appointmentId')} "
        f"store={_store(d)} supplier={d.get('supplierId')} "
        f"operation={d.get('operationId')} enquiry={d.get('enquiryId')} "
        f"attempts={d.get('attempts')} why={d.get('why')}"
    )


def resolve(client: Client, op_id: str, *, booked: str | None) -> Resolution:
    """Settle an operation whose outcome a person has checked in the dealer's diary.

    Conditional on the operation as read: when it changed meanwhile (a saga still running
    wrote it, another person resolved it), nothing is written and the person is told to
    look again."""
    try:
        return _resolve(client, op_id, booked=booked)
    except (gexc.FailedPrecondition, gexc.Aborted, gexc.AlreadyExists, OperationLostError):
        raise ResolveError(
            f"operation {op_id} changed while it was being resolved: nothing was written; "
            "list it again and decide again"
        ) from None


def _resolve(client: Client, op_id: str, *, booked: str | None) -> Resolution:
    snapshot = operations.ref(client, op_id).get(**db.call_options())
    if not snapshot.exists:
        raise ResolveError(f"no operation {op_id}")
    op = snapshot.to_dict() or {}
    status = op.get("status")
    if status not in _RESOLVABLE:
        raise ResolveError(
            f"operation {op_id} is {status}: only OUTCOME_UNKNOWN (or IN_PROGRESS) is resolved "
            "by hand; the reconciler settles the others"
        )
    held = Held(
        op_id, str(op.get("attemptId") or ""), snapshot.update_time, enquiry_numbers.number_of(op)
    )
    if booked is None:
        if not operations.settle(client, held, OpStatus.FAILED, resolvedBy="operator"):
            raise OperationLostError(op_id, None)
        return Resolution(op_id, OpStatus.FAILED.value, "not booked: the key may be retried")
    if _cancel_owed(client, op, booked):
        raise ResolveError(
            f"a cancel of appointment {booked} is owed already (it was undone): resolve "
            f"{op_id} --not-booked; the reconciler cancels it"
        )
    if op.get("kind") == CREATE_KIND and _record_create(client, held, op, booked):
        return Resolution(op_id, OpStatus.COMPLETED.value, "kept: enquiry written")
    if op.get("kind") == REARRANGE_KIND and _record_move(client, held, op, booked):
        return Resolution(op_id, OpStatus.COMPLETED.value, "kept: enquiry moved onto it")
    _owe_cancel(client, op_id, op, booked, operations.guard(client, held))
    return Resolution(op_id, OpStatus.COMPENSATING.value, "not wanted: its cancel is owed")


def _cancel_owed(client: Client, op: dict[str, Any], appointment_id: str) -> bool:
    if not op.get("store"):
        return False
    store = store_record.store_from(op["store"])
    record = compensations.ref(client, store, appointment_id).get(**db.call_options())
    owed = (CompensationStatus.PENDING.value, CompensationStatus.NEEDS_ATTENTION.value)
    return bool(record.exists and (record.to_dict() or {}).get("status") in owed)


def _record_create(client: Client, held: Held, op: dict[str, Any], appointment_id: str) -> bool:
    details = op.get("details") or {}
    if (
        not details
        or not op.get("store")
        or enquiries.ref(client, op["enquiryId"]).get(**db.call_options()).exists
    ):
        return False
    if held.number is None:  # an operation from before numbers were taken up front
        held = operations.take_number(client, held, wait_seconds=db.budget_seconds())
    slot = details["slot"]
    result = {
        "enquiryId": op["enquiryId"],
        "status": enquiries.EnquiryStatus.BOOKED.value,
        "appointmentId": appointment_id,
        "appointmentReference": None,
        "slot": slot,
    }
    write_enquiry(
        client,
        held,
        enquiry_id=op["enquiryId"],
        customer_id=op["customerId"],
        supplier_id=op["supplierId"],
        created_by=op["uid"],
        details=details,
        dms=_dms(op, appointment_id),
        result=result,
        history_by=enquiries.SYSTEM,
    )
    return True


def _record_move(client: Client, held: Held, op: dict[str, Any], appointment_id: str) -> bool:
    details = op.get("details") or {}
    snapshot = enquiries.ref(client, op["enquiryId"]).get(**db.call_options())
    enquiry = snapshot.to_dict() if snapshot.exists else None
    if (
        not enquiry
        or not op.get("store")
        or enquiry.get("status") != enquiries.EnquiryStatus.BOOKED
        or enquiry.get("dms", {}).get("appointmentId") != details.get("fromAppointmentId")
    ):
        return False  # the enquiry moved on (or is gone): the found appointment is not wanted
    result = {
        "enquiryId": op["enquiryId"],
        "status": enquiries.EnquiryStatus.BOOKED.value,
        "appointmentId": appointment_id,
        "previousAppointmentId": details["fromAppointmentId"],
        "slot": details["slot"],
    }
    move_enquiry(
        client,
        held,
        snapshot,
        enquiry,
        store_record.store_from(op["store"]),
        supplier_id=op["supplierId"],
        new_dms=_dms(op, appointment_id),
        result=result,
        by=enquiries.SYSTEM,
    )
    return True


def _owe_cancel(
    client: Client, op_id: str, op: dict[str, Any], appointment_id: str, guard: Any
) -> None:
    if not op.get("store"):
        raise ResolveError(f"operation {op_id} does not say which Keyloop store it booked in")
    store = store_record.store_from(op["store"])
    batch = client.batch()
    batch.update(
        operations.ref(client, op_id),
        {
            "status": OpStatus.COMPENSATING.value,
            "appointmentId": appointment_id,
            "resolvedBy": "operator",
            "updatedAt": clock.now(),
        },
        option=guard,
    )
    batch.set(
        compensations.ref(client, store, appointment_id),
        compensations.record(
            store,
            appointment_id,
            supplier_id=str(op.get("supplierId", "")),
            operation_id=op_id,
            why="RESOLVED_NOT_WANTED",
        ),
    )
    batch.commit(**db.call_options())


def _dms(op: dict[str, Any], appointment_id: str) -> dict[str, Any]:
    found = Appointment(appointment_id=appointment_id, reference=None, due_in=None, due_out=None)
    return enquiries.dms_block(store_record.store_from(op["store"]), found)


def _store(fields: Any) -> str:
    if not isinstance(fields, dict):
        return "?"
    return f"{fields.get('enterpriseId')}/{fields.get('storeId')}"


def _when(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _field(path: str, op: str, value: Any) -> Any:
    from google.cloud.firestore import FieldFilter

    return FieldFilter(path, op, value)
