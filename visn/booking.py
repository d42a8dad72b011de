"""createBooking: book in Keyloop and write the enquiry, as a saga with a compensating cancel.

1. Claim (uid, idempotencyKey) in Firestore before calling Keyloop.
2. Create the Keyloop appointment; `details.externalReference` = our operation id.
3. Record the appointment id on the operation (from here it is on a durable record).
4. Write the enquiry, with ViSN's next enquiry number, and complete the operation in one
   transaction.
5. If 3 or 4 fails: cancel the appointment; if that fails too, a compensation record (or,
   with Firestore down, an ERROR log) keeps it for the reconciler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from firebase_functions import logger
from google.cloud.firestore import Client

from keyloop import Address, Appointment, KeyloopError, NewAppointment, Store

from . import clock, compensations, enquiries, enquiry_numbers, operations, retention, telemetry
from .caller import Caller
from .clients import firestore_client, keyloop_client
from .dms import undo_booking
from .errors import FieldError, Reason, booking_error, reason_for_keyloop
from .operations import Claimed, OpStatus, Replay
from .schemas import CreateBookingRequest, SlotRequest
from .slots import iso
from .suppliers import Supplier, live_supplier, resolve_services

KIND = "createBooking"
AUDIT_USER_NAME = "ViSN"


def create_booking(caller: Caller, request: CreateBookingRequest) -> dict[str, Any]:
    supplier, store = live_supplier(request.supplierId)
    products, option = resolve_services(supplier, request.serviceTypes, request.optionalService)
    require_future(request.slot)
    client = firestore_client()
    claim = operations.claim(
        client,
        kind=KIND,
        uid=caller.uid,
        customer_id=caller.customer_id,
        idempotency_key=request.idempotencyKey,
        request_hash=operations.fingerprint(
            KIND, request.model_dump(mode="json", exclude={"idempotencyKey"})
        ),
        supplier_id=supplier.supplier_id,
        enquiry_id=enquiries.new_id(client),
    )
    telemetry.annotate(enquiryId=claim.enquiry_id if isinstance(claim, Claimed) else None)
    if isinstance(claim, Replay):
        return claim.result
    appointment = book(
        client,
        store,
        claim.op_id,
        appointment_request(
            caller, request.model_dump(mode="json"), request.slot, claim.op_id, products, option
        ),
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
            client,
            claim.op_id,
            OpStatus.BOOKED,
            appointmentId=appointment.appointment_id,
            store=compensations.store_fields(store),
        )
    except Exception as exc:
        # Not even the appointment id is on record: cancel now, while we still know it.
        _compensate(client, store, supplier, claim, appointment, exc, op_recorded=False)
    try:
        _write_enquiry(client, caller, request, supplier, store, claim, appointment, result)
    except Exception as exc:
        _compensate(client, store, supplier, claim, appointment, exc, op_recorded=True)
    return result


def require_future(slot: SlotRequest) -> None:
    if slot.start <= clock.now():
        raise booking_error(
            Reason.VALIDATION, fields=[FieldError("slot.start", "must be in the future")]
        )


def book(client: Client, store: Store, op_id: str, new: NewAppointment) -> Appointment:
    """Create in Keyloop; on failure, leave the operation saying what happened."""
    try:
        return keyloop_client().create_appointment(store, new)
    except KeyloopError as exc:
        reason = reason_for_keyloop(exc)
        status = (
            OpStatus.OUTCOME_UNKNOWN if reason is Reason.DMS_OUTCOME_UNKNOWN else OpStatus.FAILED
        )
        if status is OpStatus.OUTCOME_UNKNOWN:
            logger.error(
                "KEYLOOP_OUTCOME_UNKNOWN: a create may have booked; check the dealer's diary",
                operationId=op_id,
                enterpriseId=store.enterprise_id,
                storeId=store.store_id,
                correlationId=exc.correlation_id,
            )
        try:
            operations.mark(client, op_id, status, error={"reason": reason.value})
        except Exception:
            logger.warn("could not record the failed attempt", operationId=op_id)
        raise booking_error(reason) from exc


def result_slot(appointment: Appointment, slot: SlotRequest, supplier: Supplier) -> dict[str, Any]:
    start = appointment.due_in or slot.start
    end = appointment.due_out or slot.end
    zone = supplier.timezone
    return {"start": iso(start, zone), "end": iso(end, zone) if end else None}


def appointment_request(
    caller: Caller,
    booking: Mapping[str, Any],
    slot: SlotRequest,
    op_id: str,
    products: list[str],
    option: str | None,
) -> NewAppointment:
    """What Keyloop is sent, from a booking's details as the enquiry stores them (the request
    model's JSON form): a create and a rearrange send the same thing."""
    contact = booking.get("contact") or {}
    vehicle = booking.get("vehicle") or {}
    mileage = vehicle.get("mileage") or {}
    raw_address = booking.get("collectionAddress")
    address = (
        Address(
            line1=raw_address["line1"],
            line2=raw_address.get("line2"),
            city=raw_address["city"],
            postal_code=raw_address["postalCode"],
        )
        if raw_address
        else None
    )
    return NewAppointment(
        external_reference=op_id,
        due_in=slot.start,
        due_out=slot.end,
        service_product_ids=tuple(products),
        given_name=contact.get("givenName", ""),
        family_name=contact.get("familyName", ""),
        email=contact.get("email"),
        mobile=contact.get("phone"),
        license_plate=vehicle.get("registration", ""),
        vin=vehicle.get("vin"),
        vehicle_description=vehicle.get("description"),
        mileage_value=mileage.get("value"),
        mileage_unit=mileage.get("unit"),
        customer_notes=booking.get("notes"),
        appointment_option_id=option,
        collect_address=address,
        delivery_address=address,  # collection and delivery: back to where it was collected
        audit_user_id=caller.uid,
        audit_user_name=AUDIT_USER_NAME,
    )


def _write_enquiry(
    client: Client,
    caller: Caller,
    request: CreateBookingRequest,
    supplier: Supplier,
    store: Store,
    claim: Claimed,
    appointment: Appointment,
    result: dict[str, Any],
) -> None:
    body = request.model_dump(mode="json", exclude={"idempotencyKey"})
    enquiry = {
        "customerId": caller.customer_id,
        "supplierId": supplier.supplier_id,
        "status": enquiries.EnquiryStatus.BOOKED.value,
        "serviceTypes": body["serviceTypes"],
        "optionalService": body["optionalService"],
        "slot": result["slot"],
        "vehicle": body["vehicle"],
        "contact": body["contact"],
        "notes": body["notes"],
        "collectionAddress": body["collectionAddress"],
        "dms": enquiries.dms_block(store, appointment),
        "operationId": claim.op_id,
        "createdBy": caller.uid,
        "createdAt": clock.now(),
        "updatedAt": clock.now(),
        "history": [
            enquiries.history_entry(
                "BOOKED", caller, slot=result["slot"], appointmentId=appointment.appointment_id
            )
        ],
    }
    # ViSN's enquiry number is taken in this same commit (visn/enquiry_numbers.py says why).
    result[enquiry_numbers.FIELD] = enquiry_numbers.create_numbered(
        client,
        enquiries.ref(client, claim.enquiry_id),
        enquiry,
        lambda number: [
            (
                operations.ref(client, claim.op_id),
                {
                    "status": OpStatus.COMPLETED.value,
                    "result": {**result, enquiry_numbers.FIELD: number},
                    "updatedAt": clock.now(),
                    **retention.operation_fields(OpStatus.COMPLETED),
                },
            )
        ],
    )


def _compensate(
    client: Client,
    store: Store,
    supplier: Supplier,
    claim: Claimed,
    appointment: Appointment,
    cause: Exception,
    *,
    op_recorded: bool,
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
        record_on_operation=op_recorded,
    )
    raise booking_error(Reason.BOOKING_NOT_SAVED) from cause
