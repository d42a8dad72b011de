"""Keyloop's wire format for date-times, in one place.

Keyloop samples use real UTC with a `Z`; Keyloop's own adapter writes store-local wall-clock
time followed by a literal `Z` (see shared/keyloop-api.md, **assumed**). A store says which it
means via `Store.local_time_zone`: None for real UTC, else the zone its `Z` times are in.

A wall-clock time without an offset cannot say which of the two 01:xx hours of an autumn clock
change it means. So, in local mode, a time in the repeated hour is written with its real offset
(`2027-10-31T01:30:00.000+00:00`, ISO-8601 as Keyloop's samples are), every other one as
local wall-clock with `Z`; an explicit offset is always read as written. A bare local time in
the repeated hour is read as its first occurrence, and one that does not exist (the hour a
spring change skips) is refused (docs/decisions.md, "Repair order meaning and clock changes").
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


class NonexistentLocalTimeError(ValueError):
    """A wall-clock time the store's clocks skip (the spring change): no such instant."""


def parse_time(value: str, local_zone: ZoneInfo | None) -> datetime:
    """An aware datetime from a Keyloop time string. Raises ValueError when unparseable."""
    text = value.strip()
    if not text:
        raise ValueError("empty time")
    naive_utc = text.endswith(("Z", "z"))
    if naive_utc:
        text = text[:-1]
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        if naive_utc:
            raise ValueError("time has both an offset and Z")
        return parsed  # an explicit offset is unambiguous whatever the store's mode
    if local_zone is not None:
        local = parsed.replace(tzinfo=local_zone)  # fold 0: a repeated time's first occurrence
        if not exists(local):
            raise NonexistentLocalTimeError("no such wall-clock time in the store's zone")
        # As UTC: Python never finds a zone-aware time in a repeated hour equal to a time in
        # another zone (PEP 495), so comparing it with our UTC records would see a move.
        return local.astimezone(UTC)
    return parsed.replace(tzinfo=UTC)


def format_time(value: datetime, local_zone: ZoneInfo | None) -> str:
    """`YYYY-MM-DDTHH:MM:SS.000Z` in real UTC, or in the store's wall-clock for local stores
    (with the real offset instead of `Z` when that wall-clock time happens twice)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    target = value.astimezone(local_zone if local_zone is not None else UTC)
    text = target.strftime("%Y-%m-%dT%H:%M:%S.") + f"{target.microsecond // 1000:03d}"
    if local_zone is not None and repeated(target):
        return text + target.strftime("%z")[:3] + ":" + target.strftime("%z")[3:]
    return text + "Z"


def repeated(local: datetime) -> bool:
    """Whether this wall-clock time happens twice in its zone (the autumn change's hour)."""
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


def exists(local: datetime) -> bool:
    """Whether this wall-clock time happens at all in its zone (not in a skipped hour)."""
    return local.astimezone(UTC).astimezone(local.tzinfo).replace(tzinfo=None) == local.replace(
        tzinfo=None
    )
