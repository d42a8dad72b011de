"""The one source of 'now' for business rules (past dates, future slots, retry times).

Tests pin it to a fixed instant so that winter and summer dates are always bookable.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
