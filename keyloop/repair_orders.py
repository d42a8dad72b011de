"""Parsing of repair-order responses: the one place that knows their shape.

`GET {baseUrl}/{enterpriseId}/{storeId}/v1/repair-orders/{id}` is how Keyloop's own adapter
reads a booked appointment back (shared/keyloop-api.md). Only what we use is read:
`repairOrderId`, `status`, `appointment.dueInDateTime`/`dueOutDateTime`, whether
`details.checkInDateTime` is set, and the status of each labour item in `jobs[].labor[]` and
`jobs[].menus[].labor[]` (the items Keyloop's adapter looks at to tell a cancel); anything else
in the body (the customer, notes, parts) is ignored. Parsed defensively, like availability: a
body we cannot understand is a bad response, never a guess.
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
    appointment = _object(body.get("appointment"), "appointment")
    details = _object(body.get("details"), "details")
    return RepairOrder(
        repair_order_id=order_id,
        status=status.strip().upper(),
        due_in=_time(appointment.get("dueInDateTime"), "dueInDateTime", local_zone),
        due_out=_time(appointment.get("dueOutDateTime"), "dueOutDateTime", local_zone),
        labour_statuses=tuple(_labour_statuses(body.get("jobs"))),
        checked_in=details.get("checkInDateTime") not in (None, ""),
    )


def _labour_statuses(jobs: Any) -> list[str]:
    """Every labour item's status, the job's own and its menus' (Keyloop's adapter reads both)."""
    statuses: list[str] = []
    for item in _list(jobs, "jobs"):
        job = _object(item, "jobs[]")
        statuses += _statuses(job.get("labor"), "jobs[].labor")
        for menu in _list(job.get("menus"), "jobs[].menus"):
            statuses += _statuses(_object(menu, "jobs[].menus[]").get("labor"), "menus[].labor")
    return statuses


def _statuses(items: Any, where: str) -> list[str]:
    statuses = []
    for item in _list(items, where):
        status = _object(item, f"{where}[]").get("status")
        if status is not None and not isinstance(status, str):
            raise RepairOrderShapeError(f"{where}[].status is not a string")
        statuses.append((status or "").strip().upper())
    return statuses


def _object(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RepairOrderShapeError(f"{key} is not an object")
    return value


def _list(value: Any, key: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RepairOrderShapeError(f"{key} is not a list")
    return value


def _time(value: Any, key: str, zone: ZoneInfo | None) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RepairOrderShapeError(f"{key} is not a string")
    try:
        return parse_time(value, zone)
    except ValueError:
        raise RepairOrderShapeError(f"{key} is not an ISO-8601 time") from None
