"""Every Firestore collection that is ours, named here and nowhere else.

ViSN's database is shared: our collections carry one prefix so that they cannot clash with
ViSN's, and so that our rules block, indexes and TTL policies (which Firestore keys on the
collection id, wherever it occurs) can only ever apply to our data. ViSN's own documents are
reached through their own modules: `suppliers`, `enquiries`, `enquiry_numbers`.
"""

from __future__ import annotations

PREFIX = "liveDiary_"

# The booking saga's durable state, one document per (user, idempotency key).
OPERATIONS = f"{PREFIX}bookingOperations"
# Keyloop appointments we still owe a cancel for, worked by the reconciler.
COMPENSATIONS = f"{PREFIX}compensations"

# Keyloop events received (id: a hash of source and id), expiring after 7 days: dedupe.
EVENT_RECEIPTS = f"{PREFIX}keyloopEventReceipts"
# When the polling DMS sync last looked at each enquiry: its per-enquiry interval.
SYNC_CHECKS = f"{PREFIX}dmsSyncChecks"

# Booking quota counters, one per (user or customer, clock hour), expiring: visn/access/quotas.py.
RATE_LIMITS = f"{PREFIX}rateLimits"

# What Keyloop said of a store's day, shared by every instance: visn/availability/cache.py.
AVAILABILITY_CACHE = f"{PREFIX}availabilityCache"

OURS = (OPERATIONS, COMPENSATIONS, EVENT_RECEIPTS, SYNC_CHECKS, RATE_LIMITS, AVAILABILITY_CACHE)
