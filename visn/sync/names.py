"""Our Firestore collections for the sync (named with the others in `visn.namespace`)."""

from __future__ import annotations

from ..namespace import EVENT_RECEIPTS, SYNC_CHECKS

__all__ = ["EVENT_RECEIPTS", "SYNC_CHECKS"]
