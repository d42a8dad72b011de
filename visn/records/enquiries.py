"""ViSN's own record of a booking: `enquiries/{enquiryId}`, owned by one fleet customer.

The enquiries are ViSN's; we create one per booking and later update its status, slot, DMS
block and history (cancelBooking, rearrangeBooking). Every field we write is listed here and
in docs/visn-data.md. ViSN's own enquiry shape beyond `customerId`, `status` and
`enquiryNumber` is not known to us: the rest is our assumption, kept to these names.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from google.cloud.firestore import Client

from keyloop import Appointment, Store
from visn.contract.caller import Caller
from visn.contract.errors import Reason, booking_error
from visn.infra import clock, db
from visn.records.store_record import store_fields, store_from

ENQUIRIES = "enquiries"
# What createBooking writes (enquiryNumber: visn/records/enquiry_numbers.py).
CREATED_FIELDS = frozenset(
    {
        "customerId",
        "supplierId",
        "status",
        "enquiryNumber",
        "serviceTypes",
        "optionalService",
        "slot",
        "vehicle",
        "contact",
        "notes",
        "collectionAddress",
        "dms",
        "operationId",
        "createdBy",
        "createdAt",
        "updatedAt",
        "history",
    }
)
# What cancelBooking and rearrangeBooking change.
UPDATED_FIELDS = frozenset({"status", "cancelledAt", "slot", "dms", "updatedAt", "history"})


class EnquiryStatus(StrEnum):
    BOOKED = "BOOKED"
    CANCELLING = "CANCELLING"  # cancel asked for and on record; Keyloop not yet confirmed
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"  # the dealer finished the work (seen in the DMS)


# Who an entry names when no user made the change (the reconciler, an operator command).
SYSTEM = "SYSTEM"


def new_id(client: Client) -> str:
    return str(client.collection(ENQUIRIES).document().id)  # a random id, made locally


def ref(client: Client, enquiry_id: str) -> Any:
    return client.collection(ENQUIRIES).document(enquiry_id)


def read_owned(client: Client, enquiry_id: str, caller: Caller) -> Any:
    """The enquiry if it belongs to the caller's customer; to anyone else it does not exist."""
    snapshot = ref(client, enquiry_id).get(**db.call_options())
    data = snapshot.to_dict() if snapshot.exists else None
    if data is None or data.get("customerId") != caller.customer_id:
        raise booking_error(Reason.ENQUIRY_NOT_FOUND)
    return snapshot


def dms_block(store: Store, appointment: Appointment) -> dict[str, Any]:
    """Where the appointment lives, kept on the enquiry so a cancel needs no supplier config."""
    return {
        "provider": "KEYLOOP",
        "appointmentId": appointment.appointment_id,
        "appointmentReference": appointment.reference,
        **store_fields(store),
    }


def store_of(enquiry: dict[str, Any]) -> Store:
    return store_from(enquiry["dms"])


def history_entry(action: str, caller: Caller | str, **fields: Any) -> dict[str, Any]:
    """One history entry, by a user or by `SYSTEM`.

    Server timestamps are not allowed inside arrays: the entry carries our clock's time."""
    by = caller if isinstance(caller, str) else caller.uid
    return {"action": action, "at": clock.now(), "by": by, **fields}


def slot_started(enquiry: dict[str, Any]) -> bool:
    """Whether the booked slot has begun: a started appointment is the workshop's now."""
    start = (enquiry.get("slot") or {}).get("start")
    return isinstance(start, str) and datetime.fromisoformat(start) <= clock.now()
