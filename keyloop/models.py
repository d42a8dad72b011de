"""Typed values going to and coming from Keyloop."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Store:
    """A Keyloop store: the `/{enterpriseId}/{storeId}/` of every appointment path.

    `local_time_zone` is set when this store's DMS means local wall-clock time by `...Z`.
    """

    enterprise_id: str
    store_id: str
    local_time_zone: ZoneInfo | None = None


@dataclass(frozen=True, order=True)
class Slot:
    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class Address:
    line1: str
    city: str
    postal_code: str
    line2: str | None = None


@dataclass(frozen=True)
class NewAppointment:
    """What a create sends. Personal fields are hidden from repr so they never reach a log."""

    external_reference: str
    due_in: datetime
    service_product_ids: tuple[str, ...]
    given_name: str = field(repr=False)
    family_name: str = field(repr=False)
    license_plate: str
    due_out: datetime | None = None
    email: str | None = field(default=None, repr=False)
    mobile: str | None = field(default=None, repr=False)
    vin: str | None = None
    vehicle_description: str | None = None
    mileage_value: int | None = None
    mileage_unit: Literal["MI", "KM"] | None = None
    customer_notes: str | None = field(default=None, repr=False)
    appointment_option_id: str | None = None
    collect_address: Address | None = field(default=None, repr=False)
    delivery_address: Address | None = field(default=None, repr=False)
    audit_user_id: str | None = None
    audit_user_name: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Appointment:
    appointment_id: str
    reference: str | None
    due_in: datetime | None
    due_out: datetime | None


@dataclass(frozen=True)
class RepairOrder:
    """A booked appointment as the DMS sees it now (read back as a repair order).

    `status` is upper-cased as sent: CREATED, CANCELLED, WORKCOMPLETED and CLOSED have been
    seen; other values are kept as they are. `labour_statuses` are the statuses of every labour
    item, in `jobs[].labor[]` and `jobs[].menus[].labor[]` (upper-cased; "" for an item that
    gives none); `checked_in` says the vehicle has been checked in (`details.checkInDateTime`).
    Nothing personal from the body is kept.
    """

    repair_order_id: str
    status: str
    due_in: datetime | None
    due_out: datetime | None
    labour_statuses: tuple[str, ...] = ()
    checked_in: bool = False
