"""cancelBooking: cancel in Keyloop (404 = already gone), then mark the enquiry CANCELLED."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.firestore import ArrayUnion

from keyloop import KeyloopError

from . import clock, db, enquiries
from .caller import Caller
from .clients import firestore_client, keyloop_client
from .enquiries import EnquiryStatus
from .errors import Reason, booking_error, reason_for_keyloop
from .schemas import CancelBookingRequest


def cancel_booking(caller: Caller, request: CancelBookingRequest) -> dict[str, Any]:
    client = firestore_client()
    snapshot = enquiries.read_owned(client, request.enquiryId, caller)
    enquiry = snapshot.to_dict() or {}
    result = {"enquiryId": request.enquiryId, "status": EnquiryStatus.CANCELLED.value}
    if enquiry.get("status") == EnquiryStatus.CANCELLED:
        return result  # already done (by us or by the dealer): same answer, no Keyloop call
    if enquiry.get("status") == EnquiryStatus.COMPLETED:
        raise booking_error(Reason.ENQUIRY_COMPLETED)
    appointment_id = enquiry["dms"]["appointmentId"]
    try:
        keyloop_client().cancel_appointment(enquiries.store_of(enquiry), appointment_id)
    except KeyloopError as exc:
        # The enquiry stays BOOKED, so the user can simply try again.
        raise booking_error(reason_for_keyloop(exc)) from exc
    entry = enquiries.history_entry(
        "CANCELLED", caller, appointmentId=appointment_id, reason=request.reason
    )
    try:
        enquiries.ref(client, request.enquiryId).update(
            {
                "status": EnquiryStatus.CANCELLED.value,
                "updatedAt": clock.now(),
                "cancelledAt": clock.now(),
                "history": ArrayUnion([entry]),
            },
            option=client.write_option(last_update_time=snapshot.update_time),
            **db.call_options(),
        )
    except gexc.FailedPrecondition:
        # Changed since we read it: done by a concurrent cancel, or moved by a rearrange.
        latest = enquiries.read_owned(client, request.enquiryId, caller).to_dict() or {}
        if latest.get("status") == EnquiryStatus.CANCELLED:
            return result
        raise booking_error(Reason.CONCURRENT_UPDATE) from None
    return result
