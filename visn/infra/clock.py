"""The one source of 'now': business rules (past dates, future slots), quota windows and every
timestamp we write (the reconciler compares them with its own 'now', so they come from the same
clock).

Tests pin it to a fixed instant so that winter and summer dates are always bookable, and move
it forward to make an operation stale or a quota window pass. In-process tests patch `now`;
the end-to-end tests pin the emulator's functions through VISN_DEV_CLOCK_FILE (set by
devtools.stack), honoured only for a `demo-` project, so a deployed function never reads it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime


def now() -> datetime:
    pinned = _pinned()
    return pinned if pinned is not None else datetime.now(UTC)


def _pinned() -> datetime | None:
    path = os.environ.get("VISN_DEV_CLOCK_FILE")
    if not path:
        return None
    project = os.environ.get("GCLOUD_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT") or ""
    if not project.startswith("demo-"):
        return None
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read().strip()
    except FileNotFoundError:
        return None
    return datetime.fromisoformat(text) if text else None
