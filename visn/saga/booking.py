"""createBooking: book in Keyloop and write the enquiry, as a saga with a compensating cancel.

1. Claim (uid, idempotencyKey) in Firestore before calling Keyloop, taking ViSN's next
   enquiry number in the same commit (a transaction with the counter: its contention costs a
   retryable error here, before anything is booked).
2. Create the Keyloop appointment; `details.externalReference` = our operation id.
3. Record the appointment id on the operation (from here it is on a durable record).
4. The closing write: the enquiry and the completed operation, in one plain batch, conditional
   on the operation being as step 3 left it; not made once the saga's deadline has passed.
5. If 4 raised, read the operation back first: a write that was applied although the call
   failed is a success. Only a write known not to have been applied while the operation is
   still ours is compensated: cancel the appointment; if that fails too, a compensation record
   (or, with Firestore down, an ERROR log) keeps it for the reconciler. When another writer
   (the reconciler) has taken the operation, it owns the appointment's cancel. When the
   read-back fails too, nothing is cancelled: the operation stays BOOKED and the reconciler
   settles it (docs/decisions.md).
Every write to the operation is conditional on the version this attempt last wrote
(visn/saga/operations.py): a late write never overwrites another writer's decision.
"""

from __future__ import annotations

from typing import Any

from google.cloud.firestore import Client

from keyloop import Store
from visn.access import quotas
from visn.availability import cache as availability_cache
from visn.contract import telemetry
from visn.contract.caller import Caller
from visn.contract.errors import Reason, booking_error
from visn.contract.schemas import CreateBookingRequest
from visn.infra import clock, db
from visn.infra.clients import firestore_client
from visn.records import enquiries, enquiry_numbers, store_record
from visn.records.suppliers import Supplier, live_supplier, resolve_services
from visn.saga import claims, operations
from visn.saga.deadline import Deadline, DeadlinePassedError
from visn.saga.operations import Claimed, Held, OperationLostError, OpStatus, Replay
from visn.saga.steps import (
    Closing,
    Undo,
    after_closing_write,
    appointment_request,
    book,
    numbering_errors,
    replay_first,
    requested_slot,
    require_future,
    result_slot,
    unknown_save,
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
    deadline = Deadline.start()
    with numbering_errors():
        claim = claims.claim(
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
            numbered=True,
        )
    telemetry.annotate(enquiryId=claim.enquiry_id if isinstance(claim, Claimed) else None)
    if isinstance(claim, Replay):
        return claim.result
    held = claim.held
    appointment = book(
        client,
        store,
        held,
        appointment_request(caller, body, request.slot, claim.op_id, products, option),
        supplier.timezone,
    )
    undo = Undo(
        client,
        store,
        supplier.supplier_id,
        appointment.appointment_id,
        why="ENQUIRY_WRITE_FAILED",
        refusal=lambda _: booking_error(Reason.BOOKING_NOT_SAVED),
    )
    result = {
        "enquiryId": claim.enquiry_id,
        "status": enquiries.EnquiryStatus.BOOKED.value,
        "appointmentId": appointment.appointment_id,
        "appointmentReference": appointment.reference,
        "slot": result_slot(appointment, request.slot, supplier),
    }
    try:
        held = operations.advance(
            client, held, OpStatus.BOOKED, appointmentId=appointment.appointment_id
        )
    except OperationLostError as exc:
        retaken = operations.retake(
            client, held, OpStatus.BOOKED, appointmentId=appointment.appointment_id
        )
        if retaken is None:
            return undo.disown(held, exc)
        held = retaken
    except Exception as exc:
        # The appointment id may not be on record, and no enquiry is written yet: cancelling
        # now can lose nothing that was saved.
        undo.compensate(held, exc)
    try:
        deadline.check()
        write_enquiry(
            client,
            held,
            enquiry_id=claim.enquiry_id,
            customer_id=caller.customer_id,
            supplier_id=supplier.supplier_id,
            created_by=caller.uid,
            details=body,
            dms=enquiries.dms_block(store, appointment),
            result=result,
            history_by=caller,
        )
    except DeadlinePassedError as exc:
        undo.compensate(held, exc)
    except Exception as exc:
        closing = after_closing_write(client, held, appointment.appointment_id)
        if closing is Closing.SAVED:
            return result  # applied although the call raised: the booking stands
        if closing is Closing.UNKNOWN:
            raise unknown_save(held, appointment.appointment_id, exc) from exc
        if closing is Closing.LOST:
            return undo.disown(held, exc)
        undo.compensate(held, exc)
    return result


def enquiry_details(body: dict[str, Any]) -> dict[str, Any]:
    """What the enquiry keeps of the request (also kept on the operation, for a person)."""
    keys = ("serviceTypes", "optionalService", "vehicle", "contact", "notes", "collectionAddress")
    return {key: body.get(key) for key in keys}


def write_enquiry(
    client: Client,
    held: Held,
    *,
    enquiry_id: str,
    customer_id: str,
    supplier_id: str,
    created_by: str,
    details: dict[str, Any],
    dms: dict[str, Any],
    result: dict[str, Any],
    history_by: Caller | str,
) -> None:
    """The closing write: the enquiry, carrying the number the operation took, and the
    operation completed, in one batch, conditional on the operation's version held (and the
    enquiry not existing); the booked day stops being served from the availability cache in
    the same commit. Nothing in it contends: the number was taken before Keyloop was asked."""
    number = held.number
    if number is None:
        raise RuntimeError(f"operation {held.op_id} holds no enquiry number")
    result[enquiry_numbers.FIELD] = number
    enquiry = {
        "customerId": customer_id,
        "supplierId": supplier_id,
        "status": enquiries.EnquiryStatus.BOOKED.value,
        **enquiry_details(details),
        "slot": result["slot"],
        "dms": dms,
        "operationId": held.op_id,
        enquiry_numbers.FIELD: number,
        "createdBy": created_by,
        "createdAt": clock.now(),
        "updatedAt": clock.now(),
        "history": [
            enquiries.history_entry(
                "BOOKED", history_by, slot=result["slot"], appointmentId=dms["appointmentId"]
            )
        ],
    }
    batch = client.batch()
    batch.create(enquiries.ref(client, enquiry_id), enquiry)
    batch.update(
        operations.ref(client, held.op_id),
        operations.fields_for(OpStatus.COMPLETED, result=dict(result)),
        option=operations.guard(client, held),
    )
    availability_cache.invalidate(
        batch, client, store_record.store_from(dms), availability_cache.slot_days(result["slot"])
    )
    batch.commit(**db.call_options())
