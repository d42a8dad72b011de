"""Slot arithmetic and wire times for both time modes.

Wire format is `YYYY-MM-DDTHH:MM:SS.000Z`. A store with `local_times=False` means real UTC by it;
one with `local_times=True` writes its local wall-clock time followed by a literal `Z` (the quirk
Keyloop's own adapter shows), except in the hour an autumn clock change repeats, where a bare
wall-clock time could be either: there it writes the real offset
(`2027-10-31T01:30:00.000+00:00`), and it reads a bare repeated time as the first occurrence
and refuses one the spring change skips (docs/decisions.md, "Repair order meaning and clock
changes"). Internally every instant is an aware UTC datetime.
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
    # Opening hours are wall-clock (08:00 stays 08:00 local on both sides of a clock change),
    # pinned to that day's real instants: the earliest opening, the latest closing. Slots then
    # step in real time, so a 25-hour day offers both 01:xx hours and a 23-hour day offers
    # nothing in the hour it skips, and no two slots overlap.
    cursor = _to_utc(datetime.combine(day, store.open_time), store, fold=0)
    close = _to_utc(datetime.combine(day, store.close_time), store, fold=1)
    slots = []
    while cursor + step <= close:
        slots.append(Slot(cursor, cursor + step))
        cursor += step
    return slots


def slot_starting_at(store: StoreConfig, instant: datetime) -> Slot | None:
    """The store's slot that starts exactly at `instant`, if any."""
    local_day = instant.astimezone(store.zone).date()
    return next((s for s in slots_for_date(store, local_day) if s.start == instant), None)


def format_instant(instant: datetime, store: StoreConfig) -> str:
    """An instant as the store writes it on the wire."""
    if not store.local_times:
        return instant.astimezone(UTC).strftime(_WIRE_FORMAT)
    local = instant.astimezone(store.zone)
    if local.replace(fold=1 - local.fold).utcoffset() == local.utcoffset():
        return local.strftime(_WIRE_FORMAT)
    return local.isoformat(timespec="milliseconds")  # a repeated hour: its real offset


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
    if parsed.tzinfo is None and store.local_times:
        local = parsed.replace(tzinfo=store.zone)  # fold 0: a repeated time's first occurrence
        instant = local.astimezone(UTC)
        if instant.astimezone(store.zone).replace(tzinfo=None) != parsed:
            raise ValueError("no such wall-clock time in the store's zone (skipped hour)")
        return instant
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_date(text: str) -> date:
    """A strict `YYYY-MM-DD` date; raises ValueError otherwise."""
    if not _DATE_RE.fullmatch(text):
        raise ValueError("not a YYYY-MM-DD date")
    return date.fromisoformat(text)


def wire_utc(instant: datetime) -> str:
    """A real-UTC timestamp for the control endpoints (always true UTC, with milliseconds)."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _to_utc(wall_clock: datetime, store: StoreConfig, fold: int) -> datetime:
    """A wall-clock time of the store as UTC; `fold` picks which of a repeated time's two
    occurrences. A time the clocks skip reads with the offset before the change (01:30 on the
    spring day is 02:30 summer time), whatever `fold` says."""
    local = wall_clock.replace(tzinfo=store.zone, fold=fold)
    if local.utcoffset() == local.replace(fold=1 - fold).utcoffset():
        return local.replace(fold=0).astimezone(UTC)
    if local.astimezone(UTC).astimezone(store.zone).replace(tzinfo=None) != wall_clock:
        return local.replace(fold=0).astimezone(UTC)  # skipped: fold 0 is the offset before
    return local.astimezone(UTC)
