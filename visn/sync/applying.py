"""Applying what the DMS says to the enquiry: one conditional write, one history entry.

The write is conditional on the version of the enquiry that was read before the DMS was
asked, so a callable changing the same enquiry at the same moment is never overwritten: the
write loses (CONFLICT), and the next look (a later event, or the polling sync) settles it.
A change we made ourselves reads back as what the enquiry already says, so it writes nothing.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from google.api_core import exceptions as gexc
from google.cloud.firestore import ArrayUnion, Client

from visn.availability import cache as availability_cache
from visn.contract.slots import iso
from visn.infra import clock, db
from visn.records import enquiries
from visn.records.enquiries import EnquiryStatus
from visn.records.suppliers import DEFAULT_TIMEZONE, suppliers
from visn.sync.readback import DmsState, DmsView

DMS_ACTOR = "DMS"  # `by` of the history entries the DMS causes


class HistoryEvent(StrEnum):
    MOVED_IN_DMS = "MOVED_IN_DMS"
    CANCELLED_IN_DMS = "CANCELLED_IN_DMS"
    COMPLETED_IN_DMS = "COMPLETED_IN_DMS"


class Outcome(StrEnum):
    UNCHANGED = "UNCHANGED"  # the enquiry already says what the DMS says (ours, or no news)
    NOT_BOOKED = "NOT_BOOKED"  # cancelled or completed already: nothing more to follow
    MOVED = "MOVED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    CONFLICT = "CONFLICT"  # changed meanwhile; the next look settles it

    @property
    def changed(self) -> bool:
        return self in (Outcome.MOVED, Outcome.CANCELLED, Outcome.COMPLETED)


def apply(client: Client, snapshot: Any, view: DmsView, *, via: str) -> Outcome:
    """Bring the enquiry `snapshot` (as read before asking the DMS) in step with `view`.

    `via` ("EVENT" or "SYNC") is kept on the history entry, for people reading it."""
    enquiry = snapshot.to_dict() or {}
    if enquiry.get("status") != EnquiryStatus.BOOKED:
        return Outcome.NOT_BOOKED
    appointment_id = (enquiry.get("dms") or {}).get("appointmentId")
    now = clock.now()
    base = {"at": now, "by": DMS_ACTOR, "via": via, "appointmentId": appointment_id}
    fields: dict[str, Any]
    if view.state is DmsState.CANCELLED:
        outcome = Outcome.CANCELLED
        entry = {"action": HistoryEvent.CANCELLED_IN_DMS.value, **base, "dmsStatus": view.status}
        fields = {"status": EnquiryStatus.CANCELLED.value, "cancelledAt": now}
    elif view.state is DmsState.COMPLETED:
        outcome = Outcome.COMPLETED
        entry = {"action": HistoryEvent.COMPLETED_IN_DMS.value, **base, "dmsStatus": view.status}
        fields = {"status": EnquiryStatus.COMPLETED.value, "completedAt": now}
    else:
        new_slot = _moved_slot(enquiry, view)
        if new_slot is None:
            return Outcome.UNCHANGED
        outcome = Outcome.MOVED
        entry = {
            "action": HistoryEvent.MOVED_IN_DMS.value,
            **base,
            "fromSlot": enquiry.get("slot"),
            "slot": new_slot,
        }
        fields = {"slot": new_slot}
    batch = client.batch()
    batch.update(
        snapshot.reference,
        {**fields, "updatedAt": now, "history": ArrayUnion([entry])},
        option=client.write_option(last_update_time=snapshot.update_time),
    )
    # The days the booking left or moved to stop being served from the availability cache.
    availability_cache.invalidate(
        batch,
        client,
        enquiries.store_of(enquiry),
        availability_cache.slot_days(enquiry.get("slot"), fields.get("slot")),
    )
    try:
        batch.commit(**db.call_options())
    except gexc.FailedPrecondition:
        return Outcome.CONFLICT
    return outcome


def _moved_slot(enquiry: dict[str, Any], view: DmsView) -> dict[str, Any] | None:
    """The enquiry's new slot when the DMS has it at another time, else None."""
    if view.due_in is None:
        return None  # a live repair order without a time says nothing about a move
    current = enquiry.get("slot") or {}
    start = _instant(current.get("start"))
    if start is not None and start == view.due_in:
        return None
    zone = _zone(enquiry.get("supplierId"))
    end = view.due_out
    old_end = _instant(current.get("end"))
    if end is None and start is not None and old_end is not None:
        end = view.due_in + (old_end - start)  # keep the booked length
    return {"start": iso(view.due_in, zone), "end": iso(end, zone) if end else None}


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _zone(supplier_id: Any) -> ZoneInfo:
    """The supplier's time zone (every time we show carries its offset)."""
    try:
        return suppliers.get(str(supplier_id)).timezone
    except Exception:  # a supplier removed since: show the default zone rather than fail
        return ZoneInfo(DEFAULT_TIMEZONE)


def lookup(client: Client, appointment_id: str, store: tuple[str, str] | None) -> Any | None:
    """Our enquiry booked on that Keyloop appointment (in that store, when the event names
    one), or None: an appointment that is not ours, or no longer ours after a rearrange."""
    query = client.collection(enquiries.ENQUIRIES).where(
        filter=_field("dms.appointmentId", "==", appointment_id)
    )
    for snapshot in query.limit(5).stream(**db.call_options()):
        dms = (snapshot.to_dict() or {}).get("dms") or {}
        if store is None or (dms.get("enterpriseId"), dms.get("storeId")) == store:
            return snapshot
    return None


def _field(path: str, op: str, value: Any) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return FieldFilter(path, op, value)
