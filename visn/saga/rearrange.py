"""rearrangeBooking: move a booking to another slot, make before break.

1. Create the new appointment (nothing has changed if this fails).
2. Record it on the operation.
3. In one batch (the closing write, not made once the saga's deadline has passed): move the
   enquiry onto it (the old booking goes into history), complete the operation, and put the
   old appointment on a compensation record: the cancel we now owe is durable before we try
   it. Conditional on the enquiry as read and on the operation as step 2 left it.
4. If 3 raised, read the operation back: applied means moved. Only a batch known not to have
   been applied, while the operation is still ours, cancels the new appointment (the old
   booking stands); when another writer (the reconciler) took the operation, it owns the new
   appointment's cancel and the old booking stands; when even the read fails, the reconciler
   settles it from the operation.
5. Cancel the old appointment; if Keyloop fails, the record stays for the reconciler and the
   call still succeeds. docs/api.md says why not cancel first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from firebase_functions import logger
from firebase_functions.https_fn import HttpsError
from google.api_core import exceptions as gexc
from google.cloud.firestore import ArrayUnion, Client

from keyloop import Store
from visn.access import quotas
from visn.availability import cache as availability_cache
from visn.contract.caller import Caller
from visn.contract.errors import Reason, booking_error
from visn.contract.schemas import RearrangeBookingRequest
from visn.infra import clock, db
from visn.infra.clients import firestore_client
from visn.records import enquiries, store_record
from visn.records.enquiries import EnquiryStatus
from visn.records.suppliers import Supplier, live_supplier, resolve_services
from visn.saga import claims, compensations, operations
from visn.saga.deadline import Deadline, DeadlinePassedError
from visn.saga.dms import cancel_or_record
from visn.saga.operations import Held, OperationLostError, OpStatus, Replay
from visn.saga.steps import (
    Closing,
    Undo,
    after_closing_write,
    appointment_request,
    book,
    replay_first,
    requested_slot,
    require_future,
    result_slot,
    unknown_save,
)

KIND = "rearrangeBooking"
# The reconciler leaves a fresh record alone for this long: the call itself is cancelling.
OWN_CANCEL_GRACE = timedelta(minutes=2)


def rearrange_booking(caller: Caller, request: RearrangeBookingRequest) -> dict[str, Any]:
    client = firestore_client()
    snapshot = enquiries.read_owned(client, request.enquiryId, caller)
    enquiry = snapshot.to_dict() or {}
    request_hash = operations.fingerprint(
        KIND, request.model_dump(mode="json", exclude={"idempotencyKey"})
    )

    def check() -> tuple[Supplier, Store, list[str], str | None]:
        refusal = _refusal(enquiry, request)
        if refusal is not None:
            raise booking_error(refusal)  # a completed replay reads as one: the enquiry moved
        require_future(request.slot)
        supplier, _ = live_supplier(enquiry["supplierId"])
        # Today's mapping of the booked services: the new appointment is a new Keyloop booking.
        products, option = resolve_services(
            supplier, list(enquiry.get("serviceTypes") or []), enquiry.get("optionalService")
        )
        quotas.charge_booking(client, caller)  # last: a refusal still answers a replay
        return supplier, enquiries.store_of(enquiry), products, option

    checked = replay_first(client, caller, request.idempotencyKey, request_hash, check)
    if isinstance(checked, Replay):
        return checked.result
    supplier, store, products, option = checked
    deadline = Deadline.start()
    old_id = str(enquiry["dms"]["appointmentId"])
    claim = claims.claim(
        client,
        kind=KIND,
        uid=caller.uid,
        customer_id=caller.customer_id,
        idempotency_key=request.idempotencyKey,
        request_hash=request_hash,
        supplier_id=supplier.supplier_id,
        enquiry_id=request.enquiryId,
        store=store_record.store_fields(store),
        details={"fromAppointmentId": old_id, "slot": requested_slot(request.slot, supplier)},
    )
    if isinstance(claim, Replay):
        return claim.result
    held = claim.held
    new = book(
        client,
        store,
        held,
        appointment_request(caller, enquiry, request.slot, claim.op_id, products, option),
        supplier.timezone,
    )
    undo = Undo(
        client,
        store,
        supplier.supplier_id,
        new.appointment_id,
        why="REARRANGE_ENQUIRY_UPDATE_FAILED",
        refusal=_not_moved,
    )
    result = {
        "enquiryId": request.enquiryId,
        "status": EnquiryStatus.BOOKED.value,
        "appointmentId": new.appointment_id,
        "previousAppointmentId": old_id,
        "slot": result_slot(new, request.slot, supplier),
    }
    try:
        held = operations.advance(client, held, OpStatus.BOOKED, appointmentId=new.appointment_id)
    except OperationLostError as exc:
        retaken = operations.retake(client, held, OpStatus.BOOKED, appointmentId=new.appointment_id)
        if retaken is None:
            return undo.disown(held, exc)
        held = retaken
    except Exception as exc:
        undo.compensate(held, exc)
    try:
        deadline.check()
        move_enquiry(
            client,
            held,
            snapshot,
            enquiry,
            store,
            supplier_id=supplier.supplier_id,
            new_dms=enquiries.dms_block(store, new),
            result=result,
            by=caller,
        )
    except DeadlinePassedError as exc:
        undo.compensate(held, exc)
    except Exception as exc:
        closing = after_closing_write(client, held, new.appointment_id)
        if closing is Closing.UNKNOWN:
            raise unknown_save(held, new.appointment_id, exc) from exc
        if closing is Closing.LOST:
            return undo.disown(held, exc)
        if closing is Closing.NOT_SAVED:
            undo.compensate(held, exc)
    if cancel_or_record(
        client,
        store,
        old_id,
        supplier_id=supplier.supplier_id,
        operation_id=claim.op_id,
        why="REARRANGE_OLD_CANCEL_FAILED",
    ):
        try:
            _old_cancelled(client, store, old_id, enquiry)
        except Exception:
            logger.warn("could not close the compensation record", operationId=claim.op_id)
    return result


def _refusal(enquiry: dict[str, Any], request: RearrangeBookingRequest) -> Reason | None:
    if enquiry.get("status") == EnquiryStatus.COMPLETED:
        return Reason.ENQUIRY_COMPLETED
    if enquiry.get("status") != EnquiryStatus.BOOKED:
        return Reason.ENQUIRY_CANCELLED
    if enquiries.slot_started(enquiry):
        return Reason.APPOINTMENT_STARTED
    current = enquiry.get("slot") or {}
    if current.get("start") and _same_instant(current["start"], request.slot.start):
        return Reason.SAME_SLOT
    return None


def _same_instant(stored: str, requested: datetime) -> bool:
    return datetime.fromisoformat(stored) == requested


def move_enquiry(
    client: Client,
    held: Held,
    snapshot: Any,
    enquiry: dict[str, Any],
    store: Store,
    *,
    supplier_id: str,
    new_dms: dict[str, Any],
    result: dict[str, Any],
    by: Caller | str,
) -> None:
    """In one batch, conditional on the enquiry as read and the operation's version held: the
    enquiry onto the new appointment, the operation completed, and the cancel of the old
    appointment owed on record."""
    operation_id = held.op_id
    old_dms = enquiry["dms"]
    entry = enquiries.history_entry(
        "REARRANGED",
        by,
        fromSlot=enquiry.get("slot"),
        fromAppointmentId=old_dms["appointmentId"],
        slot=result["slot"],
        appointmentId=new_dms["appointmentId"],
    )
    batch = client.batch()
    batch.update(
        snapshot.reference,
        {
            "slot": result["slot"],
            "dms": new_dms,
            "updatedAt": clock.now(),
            "history": ArrayUnion([entry]),
        },
        option=client.write_option(last_update_time=snapshot.update_time),
    )
    batch.update(
        operations.ref(client, operation_id),
        operations.fields_for(OpStatus.COMPLETED, result=result),
        option=operations.guard(client, held),
    )
    owed = compensations.record(
        store,
        old_dms["appointmentId"],
        supplier_id=supplier_id,
        operation_id=operation_id,
        why="REARRANGE_OLD_APPOINTMENT",
        not_before=OWN_CANCEL_GRACE,
    )
    batch.set(compensations.ref(client, store, old_dms["appointmentId"]), owed)
    # The new slot's day (taken) and the old one's stop being served from the cache.
    availability_cache.invalidate(
        batch, client, store, availability_cache.slot_days(enquiry.get("slot"), result["slot"])
    )
    batch.commit(**db.call_options())


def _old_cancelled(client: Client, store: Store, old_id: str, enquiry: dict[str, Any]) -> None:
    """The old appointment is cancelled: its record done and its day (free again) no longer
    served from the cache, in one batch."""
    batch = client.batch()
    batch.update(compensations.ref(client, store, old_id), compensations.done_fields())
    availability_cache.invalidate(
        batch, client, store, availability_cache.slot_days(enquiry.get("slot"))
    )
    batch.commit(**db.call_options())


def _not_moved(cause: Exception | None) -> HttpsError:
    """The enquiry's own precondition failed: it changed meanwhile; anything else: not moved."""
    if isinstance(cause, gexc.FailedPrecondition):
        return booking_error(Reason.CONCURRENT_UPDATE)
    return booking_error(
        Reason.BOOKING_NOT_SAVED, "The booking could not be moved; it is unchanged."
    )
