"""cancelBooking: the intent on record first, then Keyloop, then settle.

1. In one batch, conditional on the enquiry as read: the enquiry `CANCELLING`, and the cancel
   owed on a compensation record. From here the cancel cannot be lost: if this call dies, the
   reconciler carries it out and finishes the enquiry.
2. Cancel in Keyloop (the appointment's own 404 = already gone).
3. In one batch: the enquiry `CANCELLED` (with its history entry), the record `DONE`.

A Keyloop refusal (a 4xx that is not the appointment's own 404) is definite: the intent is
taken back and the caller told. Any other Keyloop failure may hide a cancel that happened (a
5xx or a timeout after the DMS acted), so the cancel stays owed and the caller is told
`CANCELLING`: the reconciler completes it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from firebase_functions import logger
from google.api_core import exceptions as gexc
from google.cloud.firestore import ArrayUnion, Client

from keyloop import KeyloopError, KeyloopRejectedError, Store
from visn.access import quotas
from visn.availability import cache as availability_cache
from visn.contract.caller import Caller
from visn.contract.errors import Reason, booking_error, reason_for_keyloop
from visn.contract.schemas import CancelBookingRequest
from visn.infra import clock, db
from visn.infra.clients import firestore_client, keyloop_client
from visn.records import enquiries
from visn.records.enquiries import EnquiryStatus
from visn.saga import compensations

# The reconciler leaves a fresh intent alone this long: the call itself is cancelling.
OWN_CANCEL_GRACE = timedelta(minutes=2)
WHY = "CUSTOMER_CANCEL"


def cancel_booking(caller: Caller, request: CancelBookingRequest) -> dict[str, Any]:
    client = firestore_client()
    snapshot = enquiries.read_owned(client, request.enquiryId, caller)
    enquiry = snapshot.to_dict() or {}
    status = enquiry.get("status")
    if status == EnquiryStatus.CANCELLED:
        # Done, by us or by the dealer in the DMS: the same answer, no Keyloop call.
        return _result(request.enquiryId, EnquiryStatus.CANCELLED)
    if status == EnquiryStatus.COMPLETED:
        raise booking_error(Reason.ENQUIRY_COMPLETED)
    quotas.charge_cancel(client, caller)  # before any write or Keyloop call
    if status == EnquiryStatus.BOOKED:
        if enquiries.slot_started(enquiry):
            raise booking_error(Reason.APPOINTMENT_STARTED)
        snapshot = _record_intent(client, snapshot, enquiry, caller, request)
    elif status != EnquiryStatus.CANCELLING:
        raise booking_error(Reason.ENQUIRY_CANCELLED)
    store = enquiries.store_of(enquiry)
    appointment_id = str(enquiry["dms"]["appointmentId"])
    if status == EnquiryStatus.CANCELLING and not quotas.cancel_retry_due(
        client, compensations.ref(client, store, appointment_id)
    ):
        return _result(request.enquiryId, EnquiryStatus.CANCELLING)  # asked just now
    try:
        keyloop_client().cancel_appointment(store, appointment_id)
    except KeyloopRejectedError as exc:
        _take_back_intent(client, request.enquiryId, store, appointment_id, caller)
        raise booking_error(reason_for_keyloop(exc)) from exc
    except KeyloopError as exc:
        logger.warn(
            "cancel not confirmed by Keyloop: left owed for the reconciler",
            enquiryId=request.enquiryId,
            appointmentId=appointment_id,
            error=type(exc).__name__,
        )
        return _result(request.enquiryId, EnquiryStatus.CANCELLING)
    done = settle_cancelled(
        client, request.enquiryId, store, appointment_id, caller, reason=request.reason
    )
    return _result(request.enquiryId, EnquiryStatus.CANCELLED if done else EnquiryStatus.CANCELLING)


def _result(enquiry_id: str, status: EnquiryStatus) -> dict[str, Any]:
    return {"enquiryId": enquiry_id, "status": status.value}


def _record_intent(
    client: Client, snapshot: Any, enquiry: dict[str, Any], caller: Caller, request: Any
) -> Any:
    """Step 1; returns the enquiry as it now is. A write applied while the call raised is
    recognised on reading back."""
    store = enquiries.store_of(enquiry)
    appointment_id = str(enquiry["dms"]["appointmentId"])
    batch = client.batch()
    batch.update(
        snapshot.reference,
        {"status": EnquiryStatus.CANCELLING.value, "updatedAt": clock.now()},
        option=client.write_option(last_update_time=snapshot.update_time),
    )
    batch.set(
        compensations.ref(client, store, appointment_id),
        compensations.record(
            store,
            appointment_id,
            supplier_id=str(enquiry.get("supplierId", "")),
            operation_id=None,
            enquiry_id=request.enquiryId,
            why=WHY,
            not_before=OWN_CANCEL_GRACE,
        ),
    )
    try:
        batch.commit(**db.call_options())
    except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
        latest = enquiries.read_owned(client, request.enquiryId, caller)
        data = latest.to_dict() or {}
        mine = data.get("dms", {}).get("appointmentId") == appointment_id
        if data.get("status") == EnquiryStatus.CANCELLING and mine:
            return latest  # applied (ours, or a concurrent cancel's): carry on
        if data.get("status") == EnquiryStatus.CANCELLED and mine:
            return latest
        if isinstance(exc, gexc.FailedPrecondition):
            raise booking_error(Reason.CONCURRENT_UPDATE) from None
        raise
    return snapshot


def settle_cancelled(
    client: Client,
    enquiry_id: str,
    store: Store,
    appointment_id: str,
    by: Caller | str,
    *,
    reason: str | None = None,
) -> bool:
    """Step 3 (also the reconciler's, once it has cancelled): the enquiry CANCELLED if it is
    still CANCELLING on this appointment, and the record DONE. False when it could not be
    written (the record stays, and the reconciler finishes it)."""
    ref = enquiries.ref(client, enquiry_id)
    try:
        snapshot = ref.get(**db.call_options())
        data = snapshot.to_dict() if snapshot.exists else None
        batch = client.batch()
        if (
            data is not None
            and data.get("status") == EnquiryStatus.CANCELLING
            and data.get("dms", {}).get("appointmentId") == appointment_id
        ):
            fields: dict[str, Any] = {"appointmentId": appointment_id}
            if reason is not None:
                fields["reason"] = reason
            batch.update(
                ref,
                {
                    "status": EnquiryStatus.CANCELLED.value,
                    "updatedAt": clock.now(),
                    "cancelledAt": clock.now(),
                    "history": ArrayUnion([enquiries.history_entry("CANCELLED", by, **fields)]),
                },
                option=client.write_option(last_update_time=snapshot.update_time),
            )
            # The slot is free again: its day stops being served from the cache.
            availability_cache.invalidate(
                batch, client, store, availability_cache.slot_days(data.get("slot"))
            )
        batch.update(compensations.ref(client, store, appointment_id), compensations.done_fields())
        batch.commit(**db.call_options())
    except Exception as exc:
        after = _status(client, enquiry_id)
        if after == EnquiryStatus.CANCELLED:
            return True  # applied although the call raised, or finished meanwhile
        logger.warn(
            "cancelled in Keyloop, enquiry not yet settled: left for the reconciler",
            enquiryId=enquiry_id,
            appointmentId=appointment_id,
            cause=type(exc).__name__,
        )
        return False
    return True


def _status(client: Client, enquiry_id: str) -> str | None:
    try:
        snapshot = enquiries.ref(client, enquiry_id).get(**db.call_options())
    except Exception:
        return None
    return (snapshot.to_dict() or {}).get("status") if snapshot.exists else None


def _take_back_intent(
    client: Client, enquiry_id: str, store: Store, appointment_id: str, caller: Caller
) -> None:
    """Keyloop refused the cancel outright: the booking stands, so the enquiry is BOOKED
    again and the record closed. If this fails, the record stays owed and the reconciler
    keeps trying (and hands it to a person if the DMS keeps refusing)."""
    try:
        batch = client.batch()
        batch.update(
            enquiries.ref(client, enquiry_id),
            {"status": EnquiryStatus.BOOKED.value, "updatedAt": clock.now()},
        )
        batch.update(
            compensations.ref(client, store, appointment_id),
            compensations.done_fields(outcome="REFUSED_BY_DMS"),
        )
        batch.commit(**db.call_options())
    except Exception as exc:
        logger.warn(
            "could not take back a refused cancel",
            enquiryId=enquiry_id,
            appointmentId=appointment_id,
            by=caller.uid,
            cause=type(exc).__name__,
        )
