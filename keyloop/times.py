"""Keyloop's wire format for date-times, in one place.

Keyloop samples use real UTC with a `Z`; Keyloop's own adapter writes store-local wall-clock
time followed by a literal `Z` (see shared/keyloop-api.md, **assumed**). A store says which it
means via `Store.local_time_zone`: None for real UTC, else the zone its `Z` times are in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


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
        return parsed.replace(tzinfo=local_zone)
    return parsed.replace(tzinfo=UTC)


def format_time(value: datetime, local_zone: ZoneInfo | None) -> str:
    """`YYYY-MM-DDTHH:MM:SS.000Z` in real UTC, or in the store's wall-clock for local stores."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    target = value.astimezone(local_zone if local_zone is not None else UTC)
    return target.strftime("%Y-%m-%dT%H:%M:%S.") + f"{target.microsecond // 1000:03d}Z"
