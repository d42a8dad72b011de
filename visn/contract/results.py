"""Result models of the callables: the contract's output side.

The handlers build plain dicts; these models are the published shape (JSON Schemas and
TypeScript types in docs/), and the tests check every result they see against them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class OfferedSlot(_Result):
    start: str
    """ISO-8601 with the supplier's UTC offset."""
    end: str | None
    label: str
    """Local HH:MM."""


class Day(_Result):
    date: str
    slots: list[OfferedSlot]
    unavailable: bool = False
    """Present (true) when Keyloop failed for this day; its slots are then empty."""


class AvailabilityResult(_Result):
    supplierId: str  # noqa: N815 (the wire format's names)
    timezone: str
    days: list[Day]


class FoundSlot(OfferedSlot):
    date: str
    """The day of the slot in the supplier's zone (YYYY-MM-DD)."""


class FirstAvailableResult(_Result):
    supplierId: str  # noqa: N815
    timezone: str
    slots: list[FoundSlot]
    """The first `count` free slots in order; fewer (or none) when the days searched have
    no more."""
    searchedFrom: str  # noqa: N815
    searchedTo: str  # noqa: N815
    """The last day searched: the search stops at the day that completes `count`."""
    daysSearched: int  # noqa: N815
    unavailableDays: list[str]  # noqa: N815
    """Days Keyloop could not answer for: an earlier slot may hide there."""


class BookedSlot(_Result):
    start: str
    end: str | None


class CreateBookingResult(_Result):
    enquiryId: str  # noqa: N815
    enquiryNumber: int  # noqa: N815
    """ViSN's sequential enquiry number, as ViSN's own enquiries carry it."""
    status: Literal["BOOKED"]
    appointmentId: str  # noqa: N815
    appointmentReference: str | None  # noqa: N815
    slot: BookedSlot


class CancelBookingResult(_Result):
    enquiryId: str  # noqa: N815
    status: Literal["CANCELLED", "CANCELLING"]
    """CANCELLING: the cancel is on record and the DMS has not confirmed it yet; the enquiry
    turns CANCELLED when it does (watch it with onSnapshot)."""


class RearrangeBookingResult(_Result):
    enquiryId: str  # noqa: N815
    status: Literal["BOOKED"]
    appointmentId: str  # noqa: N815
    previousAppointmentId: str  # noqa: N815
    slot: BookedSlot
