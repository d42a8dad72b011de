"""What waits, counted for the reconciler's run line (the dashboard's "owed cancels and
unknown outcomes waiting"): one count query per state, no documents read."""

from __future__ import annotations

from typing import Any

from google.cloud.firestore import Client
from google.cloud.firestore_v1.base_query import FieldFilter

from visn.infra import db
from visn.saga.compensations import COMPENSATIONS, CompensationStatus
from visn.saga.operations import OPERATIONS, OpStatus

# (log field, collection, status): cancels the reconciler still owes Keyloop, cancels it gave
# up on (a person's), and creates whose outcome nobody knows (a person's).
_WAITING = (
    ("owedCancels", COMPENSATIONS, CompensationStatus.PENDING.value),
    ("owedCancelsForAPerson", COMPENSATIONS, CompensationStatus.NEEDS_ATTENTION.value),
    ("outcomesUnknown", OPERATIONS, OpStatus.OUTCOME_UNKNOWN.value),
)


def waiting(client: Client) -> dict[str, int]:
    """Each count, or nothing when Firestore cannot answer (the run line then lacks it: a
    gap in the chart, rather than a zero that is not true)."""
    try:
        return {field: _count(client, collection, status) for field, collection, status in _WAITING}
    except Exception:  # a count must never fail a run whose work is done
        return {}


def _count(client: Client, collection: str, status: str) -> int:
    query = client.collection(collection).where(filter=FieldFilter("status", "==", status))
    # One row of one aggregation (typed as a flat list by the library; a list of lists).
    rows: Any = query.count(alias="n").get(**db.call_options())
    return int(rows[0][0].value)
