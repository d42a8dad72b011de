"""What the DMS says about one of our appointments now: its repair order, read back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from keyloop import RepairOrder, Store
from visn.infra.clients import keyloop_client

_CANCELLED = frozenset({"CANCELLED"})
_COMPLETED = frozenset({"WORKCOMPLETED", "CLOSED"})


class DmsState(StrEnum):
    LIVE = "LIVE"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"


@dataclass(frozen=True)
class DmsView:
    state: DmsState
    due_in: datetime | None = None
    due_out: datetime | None = None
    status: str | None = None  # the repair order's own status; None when it does not exist


def view_of(order: RepairOrder | None) -> DmsView:
    """The repair order's meaning: gone (the API's own 404) reads as cancelled; any status
    other than the cancelled and completed ones seen reads as live (assumed, docs)."""
    if order is None:
        return DmsView(DmsState.CANCELLED)
    if order.status in _CANCELLED:
        state = DmsState.CANCELLED
    elif order.status in _COMPLETED:
        state = DmsState.COMPLETED
    else:
        state = DmsState.LIVE
    return DmsView(state, order.due_in, order.due_out, order.status)


def look(store: Store, appointment_id: str) -> DmsView:
    """One Keyloop read; raises KeyloopError when the DMS cannot say."""
    return view_of(keyloop_client().get_repair_order(store, appointment_id))
