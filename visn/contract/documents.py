"""What the Web UI reads outside the callables' results, for the published contract:

- `EnquiryDocument`: `enquiries/{enquiryId}` as the Web UI reads it with Firestore `onSnapshot`
  (ViSN's rules let a customer read their own), which is how it learns of a change the
  dealer made in the DMS;
- `ErrorDetails`: the `details` of every callable's HttpsError.

Only the fields the Web UI needs are described; documents may carry more.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from visn.contract.errors import Reason
from visn.contract.results import BookedSlot

HistoryAction = Literal[
    "BOOKED",
    "REARRANGED",
    "CANCELLED",
    "MOVED_IN_DMS",
    "CANCELLED_IN_DMS",
    "COMPLETED_IN_DMS",
]


class _Document(BaseModel):
    model_config = ConfigDict(extra="allow")


class HistoryEntry(_Document):
    action: HistoryAction
    at: Any
    """A Firestore Timestamp."""
    by: str
    """The user's uid; "DMS" for a change the dealer made in their system; "SYSTEM" for the
    reconciler or an operator command."""
    via: Literal["EVENT", "SYNC"] | None = None
    """DMS changes: seen through Keyloop's event, or by the polling sync."""
    slot: BookedSlot | None = None
    """BOOKED, REARRANGED, MOVED_IN_DMS: the slot from then on."""
    fromSlot: BookedSlot | None = None  # noqa: N815 (the document's names)
    """REARRANGED, MOVED_IN_DMS: the slot before."""
    appointmentId: str | None = None  # noqa: N815
    fromAppointmentId: str | None = None  # noqa: N815
    reason: str | None = None
    """CANCELLED: the reason the user gave."""
    dmsStatus: str | None = None  # noqa: N815
    """CANCELLED_IN_DMS, COMPLETED_IN_DMS: the repair order's status (absent: it is gone)."""


class DmsBlock(_Document):
    provider: Literal["KEYLOOP"]
    appointmentId: str  # noqa: N815
    appointmentReference: str | None = None  # noqa: N815


class EnquiryDocument(_Document):
    customerId: str  # noqa: N815
    supplierId: str  # noqa: N815
    enquiryNumber: int  # noqa: N815
    """ViSN's enquiry number, from ViSN's own counter (docs/visn-data.md)."""
    status: Literal["BOOKED", "CANCELLING", "CANCELLED", "COMPLETED"]
    """CANCELLING: a cancel is on record, the DMS has not confirmed it yet. COMPLETED: the
    dealer has finished the work (seen in the DMS); it can no longer change."""
    slot: BookedSlot
    """With the supplier's UTC offset, also after a move in the DMS."""
    serviceTypes: list[str]  # noqa: N815
    dms: DmsBlock
    history: list[HistoryEntry]


class FieldProblem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    message: str


class ErrorDetails(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason
    fields: list[FieldProblem] | None = None
