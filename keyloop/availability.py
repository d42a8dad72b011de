"""Parsing of availability responses: the one place that knows their (assumed) shapes.

No real response has been published (shared/keyloop-api.md), so accept every shape listed
there and call anything else a bad response.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .models import Slot
from .times import NonexistentLocalTimeError, parse_time

_LIST_KEYS = ("availableSlots", "slots", "items", "availability")
_START_KEYS = ("dueInDateTime", "startDateTime", "start")
_END_KEYS = ("dueOutDateTime", "endDateTime", "end")


class AvailabilityShapeError(ValueError):
    """The body is not one of the known availability shapes."""


def parse_availability(body: Any, local_zone: ZoneInfo | None = None) -> list[Slot]:
    """Free slots from an availability body, in the order given, skipping full ones."""
    raw_slots = _slot_list(body)
    slots: list[Slot] = []
    for index, raw in enumerate(raw_slots):
        if not isinstance(raw, dict):
            raise AvailabilityShapeError(f"slot {index} is not an object")
        if raw.get("available") is False or raw.get("capacity") == 0:
            continue
        try:
            start = _first_time(raw, _START_KEYS, local_zone)
        except NonexistentLocalTimeError:
            continue  # a wall-clock time the clocks skip: never offer a slot that is not there
        if start is None:
            raise AvailabilityShapeError(f"slot {index} has no start time")
        try:
            end = _first_time(raw, _END_KEYS, local_zone)
        except NonexistentLocalTimeError:
            end = None  # the length is then the caller's default, from a start that exists
        slots.append(Slot(start=start, end=end))
    return slots


def _slot_list(body: Any) -> list[Any]:
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in _LIST_KEYS:
            value = body.get(key)
            if isinstance(value, list):
                return value
    raise AvailabilityShapeError("no slot list in availability response")


def _first_time(
    raw: dict[str, Any], keys: tuple[str, ...], zone: ZoneInfo | None
) -> datetime | None:
    for key in keys:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise AvailabilityShapeError(f"{key} is not a string")
        try:
            return parse_time(value, zone)
        except NonexistentLocalTimeError:
            raise
        except ValueError:
            raise AvailabilityShapeError(f"{key} is not an ISO-8601 time") from None
    return None
