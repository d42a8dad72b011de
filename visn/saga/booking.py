"""createBooking: book in Keyloop and write the enquiry, as a saga with a compensating cancel.

1. Claim (uid, idempotencyKey) in Firestore before calling Keyloop.
2. Create the Keyloop appointment; `details.externalReference` = our operation id.
3. Record the appointment id on the operation (from here it is on a durable record).
4. Write the enquiry, with ViSN's next enquiry number, and complete the operation in one
   transaction.
5. If 4 raised, read the operation back first: a write that was applied although the call
   failed is a success. Only a write known not to have been applied is compensated: cancel
   the appointment; if that fails too, a compensation record (or, with Firestore down, an
   ERROR log) keeps it for the reconciler. When the read-back fails too, nothing is cancelled:
   the operation stays BOOKED and the reconciler settles it (docs/decisions.md).
"""

from __future__ import annotations

from typing import Any, NoReturn

from firebase_functions import logger
from google.cloud.firestore import Client

from keyloop import Appointment, Store
from visn.access import quotas
from visn.availability import cache as availability_cache
from visn.contract import telemetry
from visn.contract.caller import Caller
from visn.contract.errors import Reason, booking_error
from visn.contract.schemas import CreateBookingRequest
from visn.infra import clock
from visn.infra.clients import firestore_client
from visn.records import enquiries, enquiry_numbers, retention, store_record
from visn.records.suppliers import Supplier, live_supplier, resolve_services
from visn.saga import operations
from visn.saga.dms import undo_booking
from visn.saga.operations import Claimed, OpStatus, Replay
from visn.saga.steps import (
    appointment_request,
    book,
    confirm_saved,
    replay_first,
    requested_slot,
    require_future,
    result_slot,
)

KIND = "createBooking"


def create_booking(caller: Caller, request: CreateBookingRequest) -> dict[str, Any]:
    client = firestore_client()
    body = request.model_dump(mode="json", exclude={"idempotencyKey"})
    request_hash = operations.fingerprint(KIND, body)

    def check() -> tuple[Supplier, Store, list[str], str | None]:
        supplier, store = live_supplier(request.supplierId)
        products, option = resolve_services(supplier, request.serviceTypes, request.optionalService)
        require_future(request.slot)
        quotas.charge_booking(client, caller)  # last: a refusal still answers a replay
        return supplier, store, products, option

    checked = replay_first(client, caller, request.idempotencyKey, request_hash, check)
    if isinstance(checked, Replay):
        return checked.result
    supplier, store, products, option = checked
    claim = operations.claim(
        client,
        kind=KIND,
        uid=caller.uid,
        customer_id=caller.customer_id,
        idempotency_key=request.idempotencyKey,
        request_hash=request_hash,
        supplier_id=supplier.supplier_id,
        enquiry_id=enquiries.new_id(client),
        store=store_record.store_fields(store),
        details={**enquiry_details(body), "slot": requested_slot(request.slot, supplier)},
    )
    telemetry.annotate(enquiryId=claim.enquiry_id if isinstance(claim, Claimed) else None)
    if isinstance(claim, Replay):
        return claim.result
    appointment = book(
        client,
        store,
        claim.op_id,
        appointment_request(caller, body, request.slot, claim.op_id, products, option),
        supplier.timezone,
    )
    result = {
        "enquiryId": claim.enquiry_id,
        "status": enquiries.EnquiryStatus.BOOKED.value,
        "appointmentId": appointment.appointment_id,
        "appointmentReference": appointment.reference,
        "slot": result_slot(appointment, request.slot, supplier),
    }
    try:
        operations.mark(
            client, claim.op_id, OpStatus.BOOKED, appointmentId=appointment.appointment_id
        )
    except Exception as exc:
        # The appointment id may not be on record, and no enquiry is written yet: cancelling
        # now can lose nothing that was saved.
        _compensate(client, store, supplier, claim, appointment, exc)
    try:
        write_enquiry(
            client,
            operation_id=claim.op_id,
            enquiry_id=claim.enquiry_id,
            customer_id=caller.customer_id,
            supplier_id=supplier.supplier_id,
            created_by=caller.uid,
            details=body,
            dms=enquiries.dms_block(store, appointment),
            result=result,
            history_by=caller,
        )
    except Exception as exc:
        if confirm_saved(client, claim.op_id, appointment.appointment_id, exc):
            return result  # applied although the call raised: the booking stands
        _compensate(client, store, supplier, claim, appointment, exc)
    return result


def enquiry_details(body: dict[str, Any]) -> dict[str, Any]:
    """What the enquiry keeps of the request (also kept on the operation, for a person)."""
    keys = ("serviceTypes", "optionalService", "vehicle", "contact", "notes", "collectionAddress")
    return {key: body.get(key) for key in keys}


def write_enquiry(
    client: Client,
    *,
    operation_id: str,
    enquiry_id: str,
    customer_id: str,
    supplier_id: str,
    created_by: str,
    details: dict[str, Any],
    dms: dict[str, Any],
    result: dict[str, Any],
    history_by: Caller | str,
) -> None:
    """The enquiry, numbered, and the completed operation, in one transaction."""
    enquiry = {
        "customerId": customer_id,
        "supplierId": supplier_id,
        "status": enquiries.EnquiryStatus.BOOKED.value,
        **enquiry_details(details),
        "slot": result["slot"],
        "dms": dms,
        "operationId": operation_id,
        "createdBy": created_by,
        "createdAt": clock.now(),
        "updatedAt": clock.now(),
        "history": [
            enquiries.history_entry(
                "BOOKED", history_by, slot=result["slot"], appointmentId=dms["appointmentId"]
            )
        ],
    }
    # ViSN's enquiry number is taken in this same commit (visn/records/enquiry_numbers.py says why).
    result[enquiry_numbers.FIELD] = enquiry_numbers.create_numbered(
        client,
        enquiries.ref(client, enquiry_id),
        enquiry,
        lambda number: [(operations.ref(client, operation_id), _completed(result, number))],
        # The booked day stops being served from the availability cache in this same commit.
        also_write=lambda transaction: availability_cache.invalidate(
            transaction,
            client,
            store_record.store_from(dms),
            availability_cache.slot_days(result["slot"]),
        ),
    )


def _completed(result: dict[str, Any], number: int) -> dict[str, Any]:
    # `result` carries the number of the attempt that commits (the last one), also when the
    # commit applied although the call raised and the read-back finds it saved.
    result[enquiry_numbers.FIELD] = number
    return {
        "status": OpStatus.COMPLETED.value,
        "result": dict(result),
        "updatedAt": clock.now(),
        **retention.operation_fields(OpStatus.COMPLETED),
    }


def _compensate(
    client: Client,
    store: Store,
    supplier: Supplier,
    claim: Claimed,
    appointment: Appointment,
    cause: Exception,
) -> NoReturn:
    logger.warn(
        "booking not saved after Keyloop booked: cancelling the appointment",
        operationId=claim.op_id,
        appointmentId=appointment.appointment_id,
        supplierId=supplier.supplier_id,
        cause=type(cause).__name__,
    )
    undo_booking(
        client,
        store,
        appointment.appointment_id,
        supplier_id=supplier.supplier_id,
        operation_id=claim.op_id,
        why="ENQUIRY_WRITE_FAILED",
    )
    raise booking_error(Reason.BOOKING_NOT_SAVED) from cause
