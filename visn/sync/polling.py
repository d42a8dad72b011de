"""The polling safety net: re-read the repair orders of BOOKED enquiries due soon.

Events can be dropped (Keyloop gives up when we stay unreachable), so every run of
`syncDmsBookings` (and `python -m visn sync`) looks again at the BOOKED enquiries whose slot
is in the next `horizon`, nearest first, each no more often than its interval allows (closer
to the day, more often), and applies what it finds exactly as an event would. A run makes at
most `max_reads` Keyloop reads; what is left over waits for the next run.

When each enquiry was last looked at is kept in `liveDiary_dmsSyncChecks/{enquiryId}`, not on the
enquiry: writing the enquiry on every look would make a callable's conditional write on it
fail for nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from firebase_functions import logger
from google.cloud.firestore import Client

from keyloop import KeyloopError
from visn.infra import clock, db
from visn.infra.clients import firestore_client
from visn.records import enquiries
from visn.records.enquiries import EnquiryStatus
from visn.records.store_record import store_from
from visn.sync.applying import Outcome, apply
from visn.sync.names import SYNC_CHECKS
from visn.sync.readback import look

# (how far ahead the slot is, how often to look again): first match wins. docs/decisions.md.
INTERVALS: tuple[tuple[timedelta, timedelta], ...] = (
    (timedelta(hours=48), timedelta(minutes=30)),
    (timedelta(days=7), timedelta(hours=2)),
    (timedelta(days=14), timedelta(hours=6)),
)
_MAX_FAILURES_IN_A_ROW = 5  # Keyloop is down or refusing us: stop, the next run tries again
_BATCH = 400
_MAX_IDS_REPORTED = 100  # ids only (no personal data); the count is always whole


@dataclass(frozen=True)
class SyncSettings:
    horizon: timedelta = timedelta(days=14)
    max_reads: int = 100  # Keyloop reads per run; at every 10 minutes, 600 an hour at most
    force: bool = False  # by hand: every enquiry in the horizon now, whatever its interval


@dataclass
class SyncReport:
    run_id: str
    in_horizon: int = 0
    due: int = 0
    looked: int = 0
    keyloop_reads: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    left_for_next_run: int = 0
    stopped_early: bool = False
    lag_seconds: int = 0
    changed: list[str] = field(default_factory=list)  # enquiry ids

    def as_dict(self) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            "inHorizon": self.in_horizon,
            "due": self.due,
            "looked": self.looked,
            "keyloopReads": self.keyloop_reads,
            "outcomes": dict(sorted(self.outcomes.items())),
            "changed": len(self.changed),
            "changedEnquiryIds": self.changed[:_MAX_IDS_REPORTED],
            "failed": self.failed,
            "leftForNextRun": self.left_for_next_run,
            "stoppedEarly": self.stopped_early,
            "lagS": self.lag_seconds,
        }


def interval_for(start: datetime, now: datetime) -> timedelta:
    ahead = start - now
    for within, every in INTERVALS:
        if ahead <= within:
            return every
    return INTERVALS[-1][1]


def sync(settings: SyncSettings | None = None) -> SyncReport:
    settings = settings or SyncSettings()
    client = firestore_client()
    report = SyncReport(run_id=uuid.uuid4().hex[:12])
    now = clock.now()
    candidates = _booked_in_horizon(client, now, settings.horizon)
    report.in_horizon = len(candidates)
    last_looked = _last_looked(client, [snapshot.id for _, snapshot in candidates])
    due = [
        (start, snapshot)
        for start, snapshot in candidates
        if settings.force
        or (seen := last_looked.get(snapshot.id)) is None
        or seen + interval_for(start, now) <= now
    ]
    report.due = len(due)
    report.lag_seconds = _lag(due, last_looked, now)
    looked: dict[str, dict[str, Any]] = {}
    failures_in_a_row = 0
    for _, snapshot in due[: settings.max_reads]:
        if failures_in_a_row >= _MAX_FAILURES_IN_A_ROW:
            report.stopped_early = True
            break
        outcome = _look_and_apply(client, snapshot, report)
        failures_in_a_row = failures_in_a_row + 1 if outcome is None else 0
        if outcome is not None:
            looked[snapshot.id] = {"checkedAt": now, "outcome": outcome.value}
    report.left_for_next_run = report.due - report.looked
    _record_looked(client, looked)
    logger.info("dms sync run finished", **report.as_dict())
    return report


def _lag(due: list[tuple[datetime, Any]], last_looked: dict[str, datetime], now: datetime) -> int:
    """How long past its interval the most overdue enquiry of this run was waiting, in whole
    seconds (the dashboard's sync lag): one never looked at is due at once and not counted."""
    overdue = [
        now - (seen + interval_for(start, now))
        for start, snapshot in due
        if (seen := last_looked.get(snapshot.id)) is not None
    ]
    return max(0, int(max(overdue).total_seconds())) if overdue else 0


def _look_and_apply(client: Client, snapshot: Any, report: SyncReport) -> Outcome | None:
    enquiry = snapshot.to_dict() or {}
    dms = enquiry.get("dms") or {}
    report.looked += 1
    report.keyloop_reads += 1
    try:
        view = look(store_from(dms), str(dms["appointmentId"]))
        outcome = apply(client, snapshot, view, via="SYNC")
    except (KeyloopError, KeyError) as exc:
        report.failed += 1
        logger.warn(
            "dms sync could not look at an enquiry", enquiryId=snapshot.id, error=type(exc).__name__
        )
        return None
    report.outcomes[outcome.value] = report.outcomes.get(outcome.value, 0) + 1
    if outcome.changed:
        report.changed.append(snapshot.id)
    return outcome


def _booked_in_horizon(
    client: Client, now: datetime, horizon: timedelta
) -> list[tuple[datetime, Any]]:
    """BOOKED Keyloop enquiries whose slot starts within (now, now + horizon], nearest first.

    `slot.start` is an ISO string with the supplier's offset: the query's bounds are dates a
    day wider than the horizon (offsets are at most 14 h), and the exact test is done here."""
    low = (now - timedelta(days=1)).date().isoformat()
    high = (now + horizon + timedelta(days=1)).date().isoformat()
    query = (
        client.collection(enquiries.ENQUIRIES)
        .where(filter=_field("status", "==", EnquiryStatus.BOOKED.value))
        .where(filter=_field("slot.start", ">=", low))
        .where(filter=_field("slot.start", "<", high))
    )
    found: list[tuple[datetime, Any]] = []
    for snapshot in query.stream(**db.call_options()):
        enquiry = snapshot.to_dict() or {}
        start = _start(enquiry)
        dms = enquiry.get("dms") or {}
        if start is None or dms.get("provider") != "KEYLOOP" or not dms.get("appointmentId"):
            continue
        if now < start <= now + horizon:
            found.append((start, snapshot))
    found.sort(key=lambda pair: pair[0])
    return found


def _start(enquiry: dict[str, Any]) -> datetime | None:
    value = (enquiry.get("slot") or {}).get("start")
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def _last_looked(client: Client, enquiry_ids: list[str]) -> dict[str, datetime]:
    refs = [client.collection(SYNC_CHECKS).document(i) for i in enquiry_ids]
    seen: dict[str, datetime] = {}
    for chunk in _chunks(refs, _BATCH):
        for snapshot in client.get_all(chunk, **db.call_options()):
            checked = (snapshot.to_dict() or {}).get("checkedAt") if snapshot.exists else None
            if isinstance(checked, datetime):
                seen[snapshot.id] = checked
    return seen


def _record_looked(client: Client, looked: dict[str, dict[str, Any]]) -> None:
    items = list(looked.items())
    for chunk in _chunks(items, _BATCH):
        batch = client.batch()
        for enquiry_id, record in chunk:
            batch.set(client.collection(SYNC_CHECKS).document(enquiry_id), record)
        batch.commit(**db.call_options())


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


def _field(path: str, op: str, value: Any) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return FieldFilter(path, op, value)
