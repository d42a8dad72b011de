"""Slot arithmetic and wire times for both time modes.

Wire format is `YYYY-MM-DDTHH:MM:SS.000Z`. A store with `local_times=False` means real UTC by it;
one with `local_times=True` writes its local wall-clock time followed by a literal `Z` (the quirk
Keyloop's own adapter shows). Internally every instant is an aware UTC datetime.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from .config import StoreConfig

_WIRE_FORMAT = "%Y-%m-%dT%H:%M:%S.000Z"
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_INSTANT_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?", re.ASCII
)


@dataclass(frozen=True)
class Slot:
    """One bookable slot: `start` and `end` are aware UTC datetimes."""

    start: datetime
    end: datetime


def slots_for_date(store: StoreConfig, day: date) -> list[Slot]:
    """Every slot of the store's opening hours on `day`, in order; none on a closed day."""
    if day.weekday() not in store.weekdays or day in store.closed_dates:
        return []
    step = timedelta(minutes=store.slot_minutes)
    # Step in naive wall-clock time: opening hours are wall-clock, so 08:00 stays 08:00 local on
    # both sides of a DST change; each boundary is only then pinned to the zone and made UTC.
    cursor = datetime.combine(day, store.open_time)
    close = datetime.combine(day, store.close_time)
    slots = []
    while cursor + step <= close:
        slots.append(Slot(_to_utc(cursor, store), _to_utc(cursor + step, store)))
        cursor += step
    return slots


def slot_starting_at(store: StoreConfig, instant: datetime) -> Slot | None:
    """The store's slot that starts exactly at `instant`, if any."""
    local_day = instant.astimezone(store.zone).date()
    return next((s for s in slots_for_date(store, local_day) if s.start == instant), None)


def format_instant(instant: datetime, store: StoreConfig) -> str:
    """An instant as the store writes it on the wire."""
    zone = store.zone if store.local_times else UTC
    return instant.astimezone(zone).strftime(_WIRE_FORMAT)


def parse_instant(text: str, store: StoreConfig) -> datetime:
    """A wire time as an aware UTC datetime; raises ValueError when it is not one.

    In local mode a trailing `Z` is the quirk (local wall-clock), while an explicit numeric
    offset is still honoured; a time without any designator is read in the store's mode.
    """
    if not _INSTANT_RE.fullmatch(text):
        raise ValueError("not an ISO-8601 date-time")
    if store.local_times and text.endswith("Z"):
        text = text[:-1]
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=store.zone if store.local_times else UTC)
    return parsed.astimezone(UTC)


def parse_date(text: str) -> date:
    """A strict `YYYY-MM-DD` date; raises ValueError otherwise."""
    if not _DATE_RE.fullmatch(text):
        raise ValueError("not a YYYY-MM-DD date")
    return date.fromisoformat(text)


def wire_utc(instant: datetime) -> str:
    """A real-UTC timestamp for the control endpoints (always true UTC, with milliseconds)."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _to_utc(wall_clock: datetime, store: StoreConfig) -> datetime:
    return wall_clock.replace(tzinfo=store.zone).astimezone(UTC)
