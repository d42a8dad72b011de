"""cancelBooking: the intent on record first, then Keyloop, then settle.

1. In one batch, conditional on the enquiry as read: the enquiry `CANCELLING`, and the cancel
   owed on a compensation record. From here the cancel cannot be lost: if this call dies, the
   reconciler carries it out and finishes the enquiry.
2. Cancel in Keyloop (the appointment's own 404 = already gone).
3. In one batch: the enquiry `CANCELLED` (with its history entry), the record `DONE`.

A Keyloop refusal (a 4xx that is not the appointment's own 404, a 409 included) may answer
a retry of a DELETE that was applied, or come while another cancel of the same booking is
being processed: the appointment is read back first. Gone in the DMS: the cancel is done.
Still live: the intent is taken back (conditional on the `CANCELLING` this call decided
from) and the caller told `DMS_REJECTED`. Any other Keyloop failure may hide a cancel that
happened (a 5xx or a timeout after the DMS acted), so the cancel stays owed and the caller is
told `CANCELLING`: the reconciler completes it.

Two cancels of one booking (a double click) are safe: the settle and the take-back are each
conditional on the enquiry as read, and a loser reads again and decides again.
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
from visn.contract.errors import Reason, booking_error
from visn.contract.schemas import CancelBookingRequest
from visn.infra import clock, db
from visn.infra.clients import firestore_client, keyloop_client
from visn.records import enquiries
from visn.records.enquiries import EnquiryStatus
from visn.saga import compensations, dms

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
        version = _record_intent(client, snapshot, enquiry, caller, request)
    elif status == EnquiryStatus.CANCELLING:
        version = snapshot.update_time
    else:
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
        return _refused(client, request, version, store, appointment_id, caller, exc)
    except KeyloopError as exc:
        return _owed_still(request.enquiryId, appointment_id, exc)
    done = settle_cancelled(
        client, request.enquiryId, store, appointment_id, caller, reason=request.reason
    )
    return _result(request.enquiryId, EnquiryStatus.CANCELLED if done else EnquiryStatus.CANCELLING)


def _owed_still(enquiry_id: str, appointment_id: str, exc: Exception) -> dict[str, Any]:
    logger.warn(
        "cancel not confirmed by Keyloop: left owed for the reconciler",
        enquiryId=enquiry_id,
        appointmentId=appointment_id,
        error=type(exc).__name__,
    )
    return _result(enquiry_id, EnquiryStatus.CANCELLING)


def _refused(
    client: Client,
    request: CancelBookingRequest,
    version: Any,
    store: Store,
    appointment_id: str,
    caller: Caller,
    exc: KeyloopRejectedError,
) -> dict[str, Any]:
    """Keyloop answered the DELETE with a 4xx. Read the appointment back before anything is
    taken back: it may be gone already (an applied DELETE that the client retried, or a
    second cancel's)."""
    try:
        gone = dms.cancelled_in_dms(store, appointment_id)
    except KeyloopError as read_error:
        return _owed_still(request.enquiryId, appointment_id, read_error)
    if gone:
        done = settle_cancelled(
            client, request.enquiryId, store, appointment_id, caller, reason=request.reason
        )
        return _result(
            request.enquiryId, EnquiryStatus.CANCELLED if done else EnquiryStatus.CANCELLING
        )
    if _take_back_intent(client, request.enquiryId, version, store, appointment_id, caller):
        raise booking_error(Reason.DMS_REJECTED) from exc
    # Lost the take-back: the enquiry changed since this call decided (another cancel
    # settled it, or took it back first). What it is now is the answer.
    now = _status(client, request.enquiryId)
    if now == EnquiryStatus.CANCELLED:
        return _result(request.enquiryId, EnquiryStatus.CANCELLED)
    if now == EnquiryStatus.CANCELLING:
        return _result(request.enquiryId, EnquiryStatus.CANCELLING)
    raise booking_error(Reason.DMS_REJECTED) from exc


def _result(enquiry_id: str, status: EnquiryStatus) -> dict[str, Any]:
    return {"enquiryId": enquiry_id, "status": status.value}


def _record_intent(
    client: Client, snapshot: Any, enquiry: dict[str, Any], caller: Caller, request: Any
) -> Any:
    """Step 1; returns the version (update time) of the enquiry's `CANCELLING`. A write
    applied while the call raised is recognised on reading back."""
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
        results = batch.commit(**db.call_options())
    except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
        latest = enquiries.read_owned(client, request.enquiryId, caller)
        data = latest.to_dict() or {}
        mine = data.get("dms", {}).get("appointmentId") == appointment_id
        if data.get("status") == EnquiryStatus.CANCELLING and mine:
            return latest.update_time  # applied (ours, or a concurrent cancel's): carry on
        if data.get("status") == EnquiryStatus.CANCELLED and mine:
            return latest.update_time  # the DELETE meets its own 404; the settle reads again
        if isinstance(exc, gexc.FailedPrecondition):
            raise booking_error(Reason.CONCURRENT_UPDATE) from None
        raise
    return results[0].update_time


def settle_cancelled(
    client: Client,
    enquiry_id: str,
    store: Store,
    appointment_id: str,
    by: Caller | str,
    *,
    reason: str | None = None,
) -> bool:
    """Step 3 (also the reconciler's, once it has cancelled): the appointment is gone in the
    DMS, so an enquiry still on it (`CANCELLING`, or `BOOKED` again after a take-back that
    raced this cancel) becomes CANCELLED, and the record DONE, in one batch conditional on the
    enquiry as read; a lost race reads again and decides again. True when the enquiry ends
    CANCELLED (or is on another appointment: nothing of it waited on this one); False when it
    could not be written (the record stays, and the reconciler finishes it)."""
    ref = enquiries.ref(client, enquiry_id)
    for _ in range(_SETTLE_TRIES):
        try:
            snapshot = ref.get(**db.call_options())
            data = snapshot.to_dict() if snapshot.exists else None
            on_it = data is not None and data.get("dms", {}).get("appointmentId") == appointment_id
            batch = client.batch()
            if data is not None and on_it and data.get("status") in _STILL_ON_IT:
                _cancelled(client, batch, snapshot, data, store, appointment_id, by, reason)
            batch.update(
                compensations.ref(client, store, appointment_id), compensations.done_fields()
            )
            batch.commit(**db.call_options())
        except gexc.FailedPrecondition:
            continue  # the enquiry changed between our read and our write: decide again
        except Exception as exc:
            after = _status(client, enquiry_id)
            if after == EnquiryStatus.CANCELLED:
                return True  # applied although the call raised, or finished meanwhile
            _not_settled(enquiry_id, appointment_id, exc)
            return False
        return True
    _not_settled(enquiry_id, appointment_id, RuntimeError("the enquiry kept changing"))
    return False


_SETTLE_TRIES = 3
_STILL_ON_IT = frozenset({EnquiryStatus.CANCELLING.value, EnquiryStatus.BOOKED.value})


def _cancelled(
    client: Client,
    batch: Any,
    snapshot: Any,
    data: dict[str, Any],
    store: Store,
    appointment_id: str,
    by: Caller | str,
    reason: str | None,
) -> None:
    fields: dict[str, Any] = {"appointmentId": appointment_id}
    if reason is not None:
        fields["reason"] = reason
    batch.update(
        snapshot.reference,
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


def _not_settled(enquiry_id: str, appointment_id: str, exc: Exception) -> None:
    logger.warn(
        "cancelled in Keyloop, enquiry not yet settled: left for the reconciler",
        enquiryId=enquiry_id,
        appointmentId=appointment_id,
        cause=type(exc).__name__,
    )


def _status(client: Client, enquiry_id: str) -> str | None:
    try:
        snapshot = enquiries.ref(client, enquiry_id).get(**db.call_options())
    except Exception:
        return None
    return (snapshot.to_dict() or {}).get("status") if snapshot.exists else None


def _take_back_intent(
    client: Client,
    enquiry_id: str,
    version: Any,
    store: Store,
    appointment_id: str,
    caller: Caller,
) -> bool:
    """Keyloop refused the cancel and the appointment is live: the booking stands, so the
    enquiry is BOOKED again and the record closed, conditional on the `CANCELLING` this call
    decided from. False when the enquiry changed meanwhile (the caller reads it again). If the
    write fails otherwise, the record stays owed and the reconciler keeps trying (and hands it
    to a person if the DMS keeps refusing)."""
    try:
        batch = client.batch()
        batch.update(
            enquiries.ref(client, enquiry_id),
            {"status": EnquiryStatus.BOOKED.value, "updatedAt": clock.now()},
            option=client.write_option(last_update_time=version),
        )
        batch.update(
            compensations.ref(client, store, appointment_id),
            compensations.done_fields(outcome="REFUSED_BY_DMS"),
        )
        batch.commit(**db.call_options())
    except gexc.FailedPrecondition:
        return False
    except Exception as exc:
        logger.warn(
            "could not take back a refused cancel",
            enquiryId=enquiry_id,
            appointmentId=appointment_id,
            by=caller.uid,
            cause=type(exc).__name__,
        )
    return True
