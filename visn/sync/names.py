"""Our Firestore collections for the sync (named with the others in `visn.records.namespace`)."""

from __future__ import annotations

from visn.records.namespace import EVENT_RECEIPTS, SYNC_CHECKS

__all__ = ["EVENT_RECEIPTS", "SYNC_CHECKS"]
