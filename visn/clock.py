"""The one source of 'now': business rules (past dates, future slots) and every timestamp we
write (the reconciler compares them with its own 'now', so they come from the same clock).

Tests pin it to a fixed instant so that winter and summer dates are always bookable, and move
it forward to make an operation stale.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
