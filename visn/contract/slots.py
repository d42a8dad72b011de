"""Slots as the Web UI sees them: ISO-8601 with the supplier's real offset, local labels."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from keyloop import Slot


def iso(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).isoformat()


def slot_json(slot: Slot, zone: ZoneInfo) -> dict[str, str | None]:
    start = slot.start.astimezone(zone)
    return {
        "start": start.isoformat(),
        "end": iso(slot.end, zone) if slot.end is not None else None,
        "label": start.strftime("%H:%M"),
    }


def bookable(slots: list[Slot], now: datetime) -> list[Slot]:
    """Sorted by start, one per start time, none that has begun."""
    by_start: dict[datetime, Slot] = {}
    for slot in slots:
        if slot.start > now and slot.start not in by_start:
            by_start[slot.start] = slot
    return [by_start[start] for start in sorted(by_start)]
