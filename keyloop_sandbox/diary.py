"""Stores, appointments and slot capacity. Not thread-safe: `SandboxState` holds the lock."""

from __future__ import annotations

import secrets
import string
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .config import StoreConfig
from .times import Slot, format_instant, wire_utc

BOOKED = "BOOKED"
CANCELLED = "CANCELLED"
COMPLETED = "COMPLETED"
STATUSES = (BOOKED, CANCELLED, COMPLETED)
# How each status reads back as a repair order (shared/keyloop-api.md).
_REPAIR_ORDER_STATUS = {BOOKED: "CREATED", CANCELLED: "CANCELLED"}
BOOKED_LABOUR = "BOOKED"
# The labour items' state once the booking has ended: not seen in any public source (assumed).
_ENDED_LABOUR = {CANCELLED: "CANCELLED", COMPLETED: "COMPLETED"}
_REFERENCE_ALPHABET = string.ascii_uppercase + string.digits

_SlotKey = tuple[str, str, datetime]


@dataclass
class Appointment:
    """A booking, with the create request body kept whole for tests to inspect."""

    appointment_id: str
    reference: str
    enterprise_id: str
    store_id: str
    slot: Slot
    due_in: str  # as written on the wire when booked (the store's time mode then)
    due_out: str
    request: dict[str, Any]
    created_at: datetime
    status: str = BOOKED
    cancelled_at: datetime | None = None
    completed_as: str = "WORKCOMPLETED"  # the repair order status once COMPLETED
    changed_by_dealer: bool = False
    # Set when the dealer cancelled by unbooking the labour (`unbook`): the repair order stays
    # open (CREATED) and its labour items say this instead of BOOKED.
    unbooked_as: str | None = None

    @property
    def repair_order_status(self) -> str:
        if self.unbooked_as is not None:
            return _REPAIR_ORDER_STATUS[BOOKED]
        return _REPAIR_ORDER_STATUS.get(self.status, self.completed_as)

    @property
    def labour_status(self) -> str:
        if self.unbooked_as is not None:
            return self.unbooked_as
        return _ENDED_LABOUR.get(self.status, BOOKED_LABOUR)

    def repair_order_json(self) -> dict[str, Any]:
        """The repair order read back through `GET .../v1/repair-orders/{id}` (what we need
        of Keyloop's shape, with the rest present but empty): one job with a labour item of its
        own and one inside a menu (where Keyloop's adapter looks), and a part that stays
        BOOKED whatever happens (parts say nothing about the booking)."""
        ref = self.appointment_id
        labour = self.labour_status
        return {
            "repairOrderId": ref,
            "status": self.repair_order_status,
            "details": {"notes": None, "checkInDateTime": None},
            "appointment": {
                "dueInDateTime": self.due_in,
                "dueOutDateTime": self.due_out,
                "notes": None,
                "customerWaiting": False,
                "bookingOptions": [],
            },
            "planning": {"plannedIn": None, "plannedOut": None},
            "jobs": [
                {
                    "jobId": f"{ref}-J1",
                    "labor": [{"itemId": f"{ref}-L1", "status": labour}],
                    "menus": [
                        {
                            "itemId": f"{ref}-M1",
                            "labor": [{"itemId": f"{ref}-M1-L1", "status": labour}],
                        }
                    ],
                    "parts": [{"itemId": f"{ref}-P1", "status": BOOKED_LABOUR}],
                }
            ],
            "links": [],
        }

    @property
    def external_reference(self) -> Any:
        """`details.externalReference` of the create request, or None."""
        details = self.request.get("details")
        return details.get("externalReference") if isinstance(details, dict) else None

    def to_json(self) -> dict[str, Any]:
        """The control endpoint's appointment shape."""
        return {
            "appointmentId": self.appointment_id,
            "appointmentReference": self.reference,
            "enterpriseId": self.enterprise_id,
            "storeId": self.store_id,
            "status": self.status,
            "dueInDateTime": self.due_in,
            "dueOutDateTime": self.due_out,
            "externalReference": self.external_reference,
            "createdAt": wire_utc(self.created_at),
            "cancelledAt": wire_utc(self.cancelled_at) if self.cancelled_at else None,
            "repairOrderStatus": self.repair_order_status,
            "labourStatus": self.labour_status,
            "changedByDealer": self.changed_by_dealer,
            "request": self.request,
        }


class Diary:
    """All stores and their bookings; capacity is counted per (enterprise, store, slot start)."""

    def __init__(self, stores: Iterable[StoreConfig]) -> None:
        self._stores = {store.key: store for store in stores}
        self._appointments: dict[str, Appointment] = {}  # insertion order = creation order
        self._booked: Counter[_SlotKey] = Counter()
        self._references: set[str] = set()

    def store(self, enterprise_id: str, store_id: str) -> StoreConfig | None:
        """The store at those ids, if any."""
        return self._stores.get((enterprise_id, store_id))

    def put_store(self, store: StoreConfig) -> None:
        """Create or replace a store; its existing bookings keep counting against capacity."""
        self._stores[store.key] = store

    def stores(self) -> list[StoreConfig]:
        """Every store, in the order they were first added."""
        return list(self._stores.values())

    def remaining(self, store: StoreConfig, slot: Slot) -> int:
        """Free places in a slot (never negative, even if capacity was lowered later)."""
        return max(0, store.capacity - self._booked[(*store.key, slot.start)])

    def book(
        self, store: StoreConfig, slot: Slot, request: dict[str, Any], now: datetime
    ) -> Appointment | None:
        """Take one place in `slot`, or None when it is full. Caller holds the lock."""
        if self.remaining(store, slot) <= 0:
            return None
        appointment = Appointment(
            appointment_id=str(uuid.uuid4()),
            reference=self._new_reference(),
            enterprise_id=store.enterprise_id,
            store_id=store.store_id,
            slot=slot,
            due_in=format_instant(slot.start, store),
            due_out=format_instant(slot.end, store),
            request=request,
            created_at=now,
        )
        self._appointments[appointment.appointment_id] = appointment
        self._booked[(*store.key, slot.start)] += 1
        return appointment

    def cancel(self, enterprise_id: str, store_id: str, appointment_id: str, now: datetime) -> bool:
        """Cancel a live booking of that store; False when unknown there or already cancelled."""
        appointment = self._appointments.get(appointment_id)
        if (
            appointment is None
            or appointment.status != BOOKED
            or (appointment.enterprise_id, appointment.store_id) != (enterprise_id, store_id)
        ):
            return False
        appointment.status = CANCELLED
        appointment.cancelled_at = now
        self._booked[(enterprise_id, store_id, appointment.slot.start)] -= 1
        return True

    def get(self, appointment_id: str) -> Appointment | None:
        return self._appointments.get(appointment_id)

    def move(self, appointment_id: str, store: StoreConfig, slot: Slot) -> str | None:
        """The dealer moves a live booking to `slot`: takes a place there, frees the old one.
        Returns None when done, else why not."""
        appointment = self._appointments.get(appointment_id)
        if appointment is None or appointment.status != BOOKED:
            return "NOT_LIVE"
        if slot.start == appointment.slot.start:
            return "SAME_SLOT"
        if self.remaining(store, slot) <= 0:
            return "SLOT_FULL"
        self._booked[(*store.key, appointment.slot.start)] -= 1
        self._booked[(*store.key, slot.start)] += 1
        appointment.slot = slot
        appointment.due_in = format_instant(slot.start, store)
        appointment.due_out = format_instant(slot.end, store)
        appointment.changed_by_dealer = True
        return None

    def complete(self, appointment_id: str, repair_order_status: str) -> bool:
        """The work is done (the place is not freed: it was used)."""
        appointment = self._appointments.get(appointment_id)
        if appointment is None or appointment.status != BOOKED:
            return False
        appointment.status = COMPLETED
        appointment.completed_as = repair_order_status
        appointment.changed_by_dealer = True
        return True

    def appointments(self, status: str | None = None) -> list[Appointment]:
        """Appointments in creation order, optionally only those with `status`."""
        return [a for a in self._appointments.values() if status is None or a.status == status]

    def _new_reference(self) -> str:
        while True:
            reference = "KL-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(6))
            if reference not in self._references:
                self._references.add(reference)
                return reference
