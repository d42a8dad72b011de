"""Applying what the DMS says to the enquiry: one conditional write, one history entry.

The write is conditional on the version of the enquiry that was read before the DMS was
asked, so a callable changing the same enquiry at the same moment is never overwritten. A
write that loses is not dropped: `settle` reads the enquiry again, asks the DMS again (the
view read before may be older than what the winner wrote) and decides again, a bounded
number of times; only then is the answer CONFLICT (an event then asks Keyloop to redeliver).
A change we made ourselves reads back as what the enquiry already says, so it writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from visn.records.dms_view import DmsState, DmsView
from visn.records.enquiries import EnquiryStatus
from visn.records.suppliers import DEFAULT_TIMEZONE, suppliers

DMS_ACTOR = "DMS"  # `by` of the history entries the DMS causes
# Tries of read-decide-write before giving up (CONFLICT): each lost write means another
# writer committed in between, so a third loss in a row is a hot enquiry, not bad luck.
SETTLE_ATTEMPTS = 3


class HistoryEvent(StrEnum):
    MOVED_IN_DMS = "MOVED_IN_DMS"
    CANCELLED_IN_DMS = "CANCELLED_IN_DMS"
    COMPLETED_IN_DMS = "COMPLETED_IN_DMS"


class Outcome(StrEnum):
    UNCHANGED = "UNCHANGED"  # the enquiry already says what the DMS says (ours, or no news)
    MOVED_ON = "MOVED_ON"  # the enquiry left that appointment meanwhile (our rearrange)
    NOT_BOOKED = "NOT_BOOKED"  # cancelled or completed already: nothing more to follow
    MOVED = "MOVED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    CONFLICT = "CONFLICT"  # lost every conditional write `settle` tried; not applied

    @property
    def changed(self) -> bool:
        return self in (Outcome.MOVED, Outcome.CANCELLED, Outcome.COMPLETED)


def settle(
    client: Client, snapshot: Any, read: Callable[[], DmsView], *, via: str
) -> tuple[Outcome, DmsView]:
    """Read the DMS (`read`, one Keyloop read) and apply it to the enquiry `snapshot` (read
    before it); after a lost write, read the enquiry and the DMS again and apply again, at most
    SETTLE_ATTEMPTS times in all. Returns the outcome and the view last applied. Raises what
    `read` or Firestore raise (the caller counts those).

    `read` asks about the appointment the enquiry was on when first read: once the enquiry
    has left it (our rearrange won the race), what the DMS says of it is no longer the
    enquiry's (MOVED_ON; the new appointment is read by the sync on its schedule)."""
    about = _appointment_of(snapshot)
    view = read()
    for attempt in range(1, SETTLE_ATTEMPTS + 1):
        outcome = apply(client, snapshot, view, via=via)
        if outcome is not Outcome.CONFLICT or attempt == SETTLE_ATTEMPTS:
            return outcome, view
        snapshot = snapshot.reference.get(**db.call_options())
        if not snapshot.exists:
            return Outcome.NOT_BOOKED, view
        if (snapshot.to_dict() or {}).get("status") != EnquiryStatus.BOOKED:
            return Outcome.NOT_BOOKED, view  # settled by the winner: no need to ask the DMS
        if _appointment_of(snapshot) != about:
            return Outcome.MOVED_ON, view
        view = read()
    return Outcome.CONFLICT, view  # not reached: the loop returns on its last attempt


def _appointment_of(snapshot: Any) -> Any:
    return ((snapshot.to_dict() or {}).get("dms") or {}).get("appointmentId")


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
        commit(batch)
    except gexc.FailedPrecondition:
        return Outcome.CONFLICT
    return outcome


def commit(batch: Any) -> None:
    """The conditional write (its own function so tests can order concurrent writers)."""
    batch.commit(**db.call_options())


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


@dataclass(frozen=True)
class Found:
    """Our enquiry on an appointment (None: not ours), and whether the event's store differs
    from the enquiry's (`store_mismatch`: the enquiry is not touched)."""

    snapshot: Any | None
    store_mismatch: bool = False


def lookup(client: Client, appointment_id: str, store: tuple[str, str] | None) -> Found:
    """Our enquiry booked on that Keyloop appointment, or none: an appointment that is not
    ours, or no longer ours after a rearrange. When the event names a store, the enquiry must
    be in it; an enquiry on that appointment in another store is a mismatch."""
    query = client.collection(enquiries.ENQUIRIES).where(
        filter=_field("dms.appointmentId", "==", appointment_id)
    )
    others = 0
    for snapshot in query.limit(5).stream(**db.call_options()):
        dms = (snapshot.to_dict() or {}).get("dms") or {}
        if store is None or (str(dms.get("enterpriseId")), str(dms.get("storeId"))) == store:
            return Found(snapshot)
        others += 1
    return Found(None, store_mismatch=others > 0)


def _field(path: str, op: str, value: Any) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return FieldFilter(path, op, value)
