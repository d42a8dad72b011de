"""What the DMS says about one of our appointments now: its repair order, read back, and
what it means (`view_of`, the one place that decides, for the DMS sync and the saga's cancel
alike; docs/decisions.md, "Repair order
meaning and clock changes")."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from firebase_functions import logger

from keyloop import RepairOrder, Store
from visn.infra.clients import keyloop_client

_CANCELLED = frozenset({"CANCELLED"})
_COMPLETED = frozenset({"WORKCOMPLETED", "CLOSED"})
# The repair order statuses and labour states seen in Keyloop's samples and its own adapter
# (shared/keyloop-api.md); any other is logged once per process, so we learn what a DMS sends.
SEEN_STATUSES = frozenset({"CREATED"}) | _CANCELLED | _COMPLETED
BOOKED_LABOUR = "BOOKED"
SEEN_LABOUR_STATES = frozenset({BOOKED_LABOUR})
UNSEEN_VALUE_EVENT = "keyloop repair order value not seen before"


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
    """The repair order's meaning, from everything it shows.

    Cancelled: gone (the API's own 404), or `CANCELLED`, or it lists labour items and none is
    `BOOKED` while no work has started (not checked in, not completed) — how Keyloop's own
    adapter tells a cancel made in the DMS. Completed: `WORKCOMPLETED` or `CLOSED`. A repair
    order that lists no labour items is judged by its status alone. Anything else is live; a
    move is then a `due_in` other than ours (applying.py)."""
    if order is None:
        return DmsView(DmsState.CANCELLED)
    _note_unseen(order)
    if order.status in _CANCELLED:
        state = DmsState.CANCELLED
    elif order.status in _COMPLETED:
        state = DmsState.COMPLETED
    elif _labour_unbooked(order) and not order.checked_in:
        state = DmsState.CANCELLED
    else:
        state = DmsState.LIVE
    return DmsView(state, order.due_in, order.due_out, order.status)


def _labour_unbooked(order: RepairOrder) -> bool:
    """It lists labour items and none of them is booked any more."""
    return bool(order.labour_statuses) and BOOKED_LABOUR not in order.labour_statuses


_noted: set[tuple[str, str]] = set()
_noted_lock = threading.Lock()


def _note_unseen(order: RepairOrder) -> None:
    """Log a status or labour state we have not seen, once per process and value, with the
    repair order's id only (never anything else of the body)."""
    values = [("status", order.status)] if order.status not in SEEN_STATUSES else []
    values += [("labourStatus", s) for s in order.labour_statuses if s not in SEEN_LABOUR_STATES]
    for kind, value in values:
        with _noted_lock:
            if (kind, value) in _noted:
                continue
            _noted.add((kind, value))
        logger.warn(
            UNSEEN_VALUE_EVENT,
            kind=kind,
            value=value[:40],
            repairOrderId=order.repair_order_id,
        )


def look(store: Store, appointment_id: str) -> DmsView:
    """One Keyloop read; raises KeyloopError when the DMS cannot say."""
    return view_of(keyloop_client().get_repair_order(store, appointment_id))
