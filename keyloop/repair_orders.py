"""Parsing of repair-order responses: the one place that knows their shape.

`GET {baseUrl}/{enterpriseId}/{storeId}/v1/repair-orders/{id}` is how Keyloop's own adapter
reads a booked appointment back (shared/keyloop-api.md). Only what we use is read:
`repairOrderId`, `status` and `appointment.dueInDateTime`/`dueOutDateTime`; anything else in
the body is ignored. Parsed defensively, like availability: a body we cannot understand is a
bad response, never a guess.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from .models import RepairOrder
from .times import parse_time


class RepairOrderShapeError(ValueError):
    """The body is not a repair order we can read."""


def parse_repair_order(body: Any, local_zone: ZoneInfo | None = None) -> RepairOrder:
    if not isinstance(body, dict):
        raise RepairOrderShapeError("repair order is not an object")
    order_id = body.get("repairOrderId", body.get("RepairOrderId"))
    if not isinstance(order_id, str) or not order_id:
        raise RepairOrderShapeError("no repairOrderId")
    status = body.get("status")
    if not isinstance(status, str) or not status.strip():
        raise RepairOrderShapeError("no status")
    appointment = body.get("appointment")
    if appointment is None:
        appointment = {}
    if not isinstance(appointment, dict):
        raise RepairOrderShapeError("appointment is not an object")
    return RepairOrder(
        repair_order_id=order_id,
        status=status.strip().upper(),
        due_in=_time(appointment.get("dueInDateTime"), "dueInDateTime", local_zone),
        due_out=_time(appointment.get("dueOutDateTime"), "dueOutDateTime", local_zone),
    )


def _time(value: Any, key: str, zone: ZoneInfo | None) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RepairOrderShapeError(f"{key} is not a string")
    try:
        return parse_time(value, zone)
    except ValueError:
        raise RepairOrderShapeError(f"{key} is not an ISO-8601 time") from None
