"""When the polling sync looks again at each BOOKED enquiry: its class, its next due time, and
the records that say so (`liveDiary_dmsSyncChecks`), none of them on the enquiry itself.

Each look writes `liveDiary_dmsSyncChecks/{enquiryId}` = {checkedAt, outcome, slotStart, dueAt,
expireAt}; a run asks Firestore for the records whose `dueAt` has come (a single-field index),
not for every booking. Enquiries with no record yet are found by their `updatedAt` (every
booking, rearrange and rolled-back cancel writes it) since the last run, and by a full sweep of
every future BOOKED enquiry once a day (and on every run by hand), which also catches an
enquiry written without `updatedAt`. docs/decisions.md, "DMS sync coverage and conflicts".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from google.cloud.firestore import DELETE_FIELD, Client

from visn.infra import db
from visn.records import enquiries
from visn.records.enquiries import EnquiryStatus
from visn.sync.names import SYNC_CHECKS

# (how far ahead the slot is, how often to look again): the first that holds is the class.
# The last class has no bound: every future booking is looked at least once a day.
INTERVALS: tuple[tuple[timedelta | None, timedelta], ...] = (
    (timedelta(hours=48), timedelta(minutes=30)),
    (timedelta(days=7), timedelta(hours=2)),
    (timedelta(days=14), timedelta(hours=6)),
    (timedelta(days=60), timedelta(hours=12)),
    (None, timedelta(hours=24)),
)
FULL_SWEEP_EVERY = timedelta(hours=24)
# A writer's `updatedAt` is its clock before its commit (a callable lasts at most 60 s): the
# enquiries changed since the last run are asked for from well before it.
DISCOVERY_MARGIN = timedelta(minutes=15)
# A record outlives its booking by this much, then Firestore's TTL policy deletes it.
RECORD_KEPT_AFTER_SLOT = timedelta(days=7)
STATE_ID = "_sweep"  # the one record that is not an enquiry's: when the run last discovered
_BATCH = 300


def interval_for(start: datetime, now: datetime) -> timedelta:
    ahead = start - now
    for within, every in INTERVALS:
        if within is None or ahead <= within:
            return every
    return INTERVALS[-1][1]


def next_due(start: datetime, checked: datetime) -> datetime:
    """The earliest time the enquiry is due again: its class's interval, or a closer class's
    when the slot will be in that class by then (never later than the class it is in when
    looked at again)."""
    return min(
        checked + every
        for within, every in INTERVALS
        if within is None or start - (checked + every) <= within
    )


def due_at(check: dict[str, Any] | None, start: datetime) -> datetime | None:
    """When the enquiry falls due: by its record, or by its slot now (a slot moved nearer by
    ourselves or by ViSN since the last look), whichever is first. None when it was never
    looked at (due at once, with no time it was due since)."""
    if check is None:
        return None
    times = [check["dueAt"]] if isinstance(check.get("dueAt"), datetime) else []
    if isinstance(check.get("checkedAt"), datetime):
        times.append(next_due(start, check["checkedAt"]))
    return min(times) if times else None


def is_due(check: dict[str, Any] | None, start: datetime, now: datetime) -> bool:
    """Never looked at, moved since the last look (our rearrange, or ViSN: the slot is not the
    one that look recorded, so the new appointment has not been read yet), or its time has
    come (`due_at`)."""
    if check is None or not isinstance(check.get("checkedAt"), datetime):
        return True
    recorded = check.get("slotStart")
    if isinstance(recorded, datetime) and recorded != start:
        return True
    due = due_at(check, start)
    return due is not None and due <= now


def record(
    enquiry_id: str, *, checked: datetime, outcome: str, start: datetime | None, follow: bool
) -> tuple[str, dict[str, Any]]:
    """The record of one look; `follow` False (no longer BOOKED, or its slot passed) takes it
    off the schedule (no `dueAt`)."""
    fields: dict[str, Any] = {"checkedAt": checked, "outcome": outcome}
    if start is not None:
        fields["slotStart"] = start
        fields["expireAt"] = max(start, checked) + RECORD_KEPT_AFTER_SLOT
    else:
        fields["expireAt"] = checked + RECORD_KEPT_AFTER_SLOT
    # Written with merge: a record taken off the schedule must lose the `dueAt` it had.
    fields["dueAt"] = next_due(start, checked) if follow and start is not None else DELETE_FIELD
    return enquiry_id, fields


def still_due(enquiry_id: str, start: datetime, now: datetime) -> tuple[str, dict[str, Any]]:
    """For an enquiry found due but not looked at this run (the bound): due from now on, so
    the next run finds it by its record."""
    return enquiry_id, {
        "dueAt": now,
        "slotStart": start,
        "expireAt": start + RECORD_KEPT_AFTER_SLOT,
    }


# -- reading -----------------------------------------------------------------------------------


def state(client: Client) -> dict[str, Any]:
    snapshot = client.collection(SYNC_CHECKS).document(STATE_ID).get(**db.call_options())
    return (snapshot.to_dict() or {}) if snapshot.exists else {}


def write_state(client: Client, fields: dict[str, Any]) -> None:
    client.collection(SYNC_CHECKS).document(STATE_ID).set(fields, merge=True, **db.call_options())


def due_records(client: Client, now: datetime) -> dict[str, dict[str, Any]]:
    query = client.collection(SYNC_CHECKS).where(filter=_field("dueAt", "<=", now))
    return {s.id: s.to_dict() or {} for s in query.stream(**db.call_options())}


def records(client: Client, enquiry_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    refs = [client.collection(SYNC_CHECKS).document(i) for i in enquiry_ids]
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(refs, _BATCH):
        for snapshot in client.get_all(chunk, **db.call_options()):
            if snapshot.exists:
                found[snapshot.id] = snapshot.to_dict() or {}
    return found


def enquiries_by_id(client: Client, enquiry_ids: Iterable[str]) -> list[Any]:
    refs = [client.collection(enquiries.ENQUIRIES).document(i) for i in enquiry_ids]
    found: list[Any] = []
    for chunk in _chunks(refs, _BATCH):
        found.extend(s for s in client.get_all(chunk, **db.call_options()) if s.exists)
    return found


def every_future_booked(client: Client, now: datetime) -> list[Any]:
    """Every BOOKED enquiry whose slot starts from yesterday on (the index `enquiries (status,
    slot.start)`; the exact test on instants is the caller's, offsets are at most 14 h)."""
    low = (now - timedelta(days=1)).date().isoformat()
    query = (
        client.collection(enquiries.ENQUIRIES)
        .where(filter=_field("status", "==", EnquiryStatus.BOOKED.value))
        .where(filter=_field("slot.start", ">=", low))
    )
    return list(query.stream(**db.call_options()))


def changed_since(client: Client, since: datetime) -> list[Any]:
    """Enquiries written since `since` (by `updatedAt`, a single-field index), any status."""
    query = client.collection(enquiries.ENQUIRIES).where(filter=_field("updatedAt", ">=", since))
    return list(query.stream(**db.call_options()))


def write_records(client: Client, items: list[tuple[str, dict[str, Any]]]) -> None:
    """Raises what Firestore raises; the caller counts it (the enquiries are looked at again)."""
    for chunk in _chunks(items, _BATCH):
        batch = client.batch()
        for enquiry_id, fields in chunk:
            batch.set(client.collection(SYNC_CHECKS).document(enquiry_id), fields, merge=True)
        batch.commit(**db.call_options())


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


def _field(path: str, op: str, value: Any) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return FieldFilter(path, op, value)
