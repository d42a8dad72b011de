"""How long our records are kept: a Firestore TTL policy on `expireAt` deletes them.

The policies are declared in firestore/live-diary.indexes.json (fieldOverrides, "ttl") and
set with gcloud (docs/deploy.md). Only records nothing will read again get an `expireAt`:
- an operation once it is COMPLETED, FAILED or COMPENSATED: 30 days. A replay of the same
  idempotency key comes within minutes; the enquiry holds everything a cancel or a
  rearrange needs; 30 days leave support time to trace a Keyloop appointment's
  `externalReference` back to its operation. IN_PROGRESS, BOOKED, COMPENSATING and
  OUTCOME_UNKNOWN never expire: the reconciler or a person still has work on them.
- a compensation once DONE: 90 days, a quarter in which a dealer may ask why an appointment
  was cancelled. PENDING and NEEDS_ATTENTION never expire.
TTL deletion is eventual (typically within a day of `expireAt`), never early.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from visn.infra import clock

FIELD = "expireAt"
OPERATION_KEPT = timedelta(days=30)
COMPENSATION_KEPT = timedelta(days=90)
# OpStatus values (kept as strings: operations imports this module, not the reverse).
_FINISHED_OPERATIONS = frozenset({"COMPLETED", "FAILED", "COMPENSATED"})


def operation_fields(status: str) -> dict[str, Any]:
    """`expireAt` for an operation moving to `status`: a date when finished, else cleared (a
    retried key must not expire while it is worked on)."""
    finished = status in _FINISHED_OPERATIONS
    return {FIELD: clock.now() + OPERATION_KEPT if finished else None}


def compensation_done_fields() -> dict[str, Any]:
    return {FIELD: clock.now() + COMPENSATION_KEPT}
