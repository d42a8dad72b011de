"""Our Firestore collections for the sync, in one place (named apart from ViSN's own)."""

from __future__ import annotations

# One document per Keyloop event received (id: a hash of source and id), expiring: dedupe.
EVENT_RECEIPTS = "keyloopEventReceipts"
# One document per enquiry the polling sync has looked at, with when: the per-enquiry interval.
SYNC_CHECKS = "dmsSyncChecks"
