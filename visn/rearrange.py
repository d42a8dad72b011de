"""rearrangeBooking: move a booking to another slot, make before break.

1. Create the new appointment (nothing has changed if this fails).
2. Record it on the operation.
3. In one batch: move the enquiry onto it (the old booking goes into history), complete the
   operation, and put the old appointment on a compensation record: the cancel we now owe
   is durable before we try it.
4. Cancel the old appointment; if Keyloop fails, the record stays for the reconciler and the
   call still succeeds. docs/api.md says why not cancel first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NoReturn

from firebase_functions import logger
from google.api_core import exceptions as gexc
from google.cloud.firestore import ArrayUnion, Client

from keyloop import Appointment, Store

from . import clock, compensations, db, enquiries, operations, retention
from .booking import appointment_request, book, require_future, result_slot
from .caller import Caller
from .clients import firestore_client
from .dms import cancel_or_record, undo_booking
from .enquiries import EnquiryStatus
from .errors import Reason, booking_error
from .operations import Claimed, OpStatus, Replay
from .schemas import RearrangeBookingRequest
from .suppliers import Supplier, live_supplier, resolve_services

KIND = "rearrangeBooking"
# The reconciler leaves a fresh record alone for this long: the call itself is cancelling.
_OWN_CANCEL_GRACE = timedelta(minutes=2)


def rearrange_booking(caller: Caller, request: RearrangeBookingRequest) -> dict[str, Any]:
    require_future(request.slot)
    client = firestore_client()
    snapshot = enquiries.read_owned(client, request.enquiryId, caller)
    enquiry = snapshot.to_dict() or {}
    request_hash = operations.fingerprint(
        KIND, request.model_dump(mode="json", exclude={"idempotencyKey"})
    )
    refusal = _refusal(enquiry, request)
    if refusal is not None:
        # A completed replay reads as a refusal (the enquiry has moved): answer the replay.
        done = operations.completed_result(client, caller.uid, request.idempotencyKey, request_hash)
        if done is not None:
            return done
        raise booking_error(refusal)
    supplier, _ = live_supplier(enquiry["supplierId"])
    # Today's mapping of the booked services: the new appointment is a new Keyloop booking.
    products, option = resolve_services(
        supplier, list(enquiry.get("serviceTypes") or []), enquiry.get("optionalService")
    )
    store = enquiries.store_of(enquiry)
    claim = operations.claim(
        client,
        kind=KIND,
        uid=caller.uid,
        customer_id=caller.customer_id,
        idempotency_key=request.idempotencyKey,
        request_hash=request_hash,
        supplier_id=supplier.supplier_id,
        enquiry_id=request.enquiryId,
    )
    if isinstance(claim, Replay):
        return claim.result
    old_id = str(enquiry["dms"]["appointmentId"])
    new = book(
        client,
        store,
        claim.op_id,
        appointment_request(caller, enquiry, request.slot, claim.op_id, products, option),
    )
    result = {
        "enquiryId": request.enquiryId,
        "status": EnquiryStatus.BOOKED.value,
        "appointmentId": new.appointment_id,
        "previousAppointmentId": old_id,
        "slot": result_slot(new, request.slot, supplier),
    }
    try:
        operations.mark(
            client,
            claim.op_id,
            OpStatus.BOOKED,
            appointmentId=new.appointment_id,
            store=compensations.store_fields(store),
        )
        _move_enquiry(client, caller, snapshot, enquiry, store, supplier, claim, new, result)
    except Exception as exc:
        _undo_new(client, store, supplier, claim, new, exc)
    if cancel_or_record(
        client,
        store,
        old_id,
        supplier_id=supplier.supplier_id,
        operation_id=claim.op_id,
        why="REARRANGE_OLD_CANCEL_FAILED",
    ):
        try:
            compensations.mark_done(client, store, old_id)
        except Exception:
            logger.warn("could not close the compensation record", operationId=claim.op_id)
    return result


def _refusal(enquiry: dict[str, Any], request: RearrangeBookingRequest) -> Reason | None:
    if enquiry.get("status") != EnquiryStatus.BOOKED:
        return Reason.ENQUIRY_CANCELLED
    current = enquiry.get("slot") or {}
    if current.get("start") and _same_instant(current["start"], request.slot.start):
        return Reason.SAME_SLOT
    return None


def _same_instant(stored: str, requested: datetime) -> bool:
    return datetime.fromisoformat(stored) == requested


def _move_enquiry(
    client: Client,
    caller: Caller,
    snapshot: Any,
    enquiry: dict[str, Any],
    store: Store,
    supplier: Supplier,
    claim: Claimed,
    new: Appointment,
    result: dict[str, Any],
) -> None:
    old_dms = enquiry["dms"]
    entry = enquiries.history_entry(
        "REARRANGED",
        caller,
        fromSlot=enquiry.get("slot"),
        fromAppointmentId=old_dms["appointmentId"],
        slot=result["slot"],
        appointmentId=new.appointment_id,
    )
    batch = client.batch()
    batch.update(
        enquiries.ref(client, claim.enquiry_id),
        {
            "slot": result["slot"],
            "dms": enquiries.dms_block(store, new),
            "updatedAt": clock.now(),
            "history": ArrayUnion([entry]),
        },
        option=client.write_option(last_update_time=snapshot.update_time),
    )
    batch.update(
        operations.ref(client, claim.op_id),
        {
            "status": OpStatus.COMPLETED.value,
            "result": result,
            "updatedAt": clock.now(),
            **retention.operation_fields(OpStatus.COMPLETED),
        },
    )
    owed = compensations.record(
        store,
        old_dms["appointmentId"],
        supplier_id=supplier.supplier_id,
        operation_id=claim.op_id,
        why="REARRANGE_OLD_APPOINTMENT",
        not_before=_OWN_CANCEL_GRACE,
    )
    batch.set(
        client.collection(compensations.COMPENSATIONS).document(
            compensations.compensation_id(store, old_dms["appointmentId"])
        ),
        owed,
    )
    batch.commit(**db.call_options())


def _undo_new(
    client: Client,
    store: Store,
    supplier: Supplier,
    claim: Claimed,
    new: Appointment,
    cause: Exception,
) -> NoReturn:
    """The enquiry could not move: cancel the new appointment; the old booking stands."""
    undo_booking(
        client,
        store,
        new.appointment_id,
        supplier_id=supplier.supplier_id,
        operation_id=claim.op_id,
        why="REARRANGE_ENQUIRY_UPDATE_FAILED",
    )
    if isinstance(cause, gexc.FailedPrecondition):
        raise booking_error(Reason.CONCURRENT_UPDATE) from cause
    raise booking_error(
        Reason.BOOKING_NOT_SAVED, "The booking could not be moved; it is unchanged."
    ) from cause
