"""The polling safety net: re-read the repair orders of every future BOOKED enquiry.

Events can be dropped (Keyloop gives up when we stay unreachable), so every run of
`syncDmsBookings` (and `python -m visn sync`) looks again at the BOOKED enquiries whose time
has come by their class (`visn/sync/schedule.py`: closer to the day, more often; at least daily
however far ahead), nearest slot first, and applies what it finds exactly as an event would.
A scheduled run makes at most `max_reads` Keyloop reads; what is left over is recorded as due
and waits for the next run. By hand (`force`), every future booking is looked at now.

Each enquiry is handled on its own: a Keyloop failure on one is counted (and after
`_MAX_FAILURES_IN_A_ROW` in a row the run stops: Keyloop is down); a Firestore error or a bug
on one is counted and logged as DMS_SYNC_ITEM_FAILED (an alert), and the run goes on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from firebase_functions import logger
from google.cloud.firestore import DELETE_FIELD

from keyloop import KeyloopError
from visn.infra import clock
from visn.infra.clients import firestore_client
from visn.records.dms_view import DmsView, look
from visn.records.enquiries import EnquiryStatus
from visn.records.store_record import store_from
from visn.sync import schedule
from visn.sync.applying import Outcome, settle
from visn.sync.schedule import interval_for

__all__ = ["MAX_READS_PER_RUN", "SyncReport", "SyncSettings", "interval_for", "sync"]

# Keyloop reads per scheduled run (every 10 minutes): 36,000 a day at most. docs/decisions.md.
MAX_READS_PER_RUN = 250
# Stable message for the alert (ops/metrics/visn_dms_sync_item_failed.yaml).
ITEM_FAILED_MESSAGE = "DMS_SYNC_ITEM_FAILED: one enquiry could not be handled this run"
_MAX_FAILURES_IN_A_ROW = 5  # Keyloop is down or refusing us: stop, the next run tries again
_RECORD_EVERY = 50  # looks recorded as the run goes, so a run cut short keeps most of them
_MAX_IDS_REPORTED = 100  # ids only (no personal data); the count is always whole


@dataclass(frozen=True)
class SyncSettings:
    horizon: timedelta | None = None  # None: every future booking
    max_reads: int | None = MAX_READS_PER_RUN  # None: no bound
    force: bool = False  # by hand: every enquiry now, whatever its interval (a full sweep)


@dataclass
class SyncReport:
    run_id: str
    full_sweep: bool = False
    considered: int = 0  # future BOOKED enquiries read from Firestore this run
    due: int = 0
    looked: int = 0
    keyloop_reads: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    failed: int = 0  # enquiries not handled: Keyloop failing, a lost write, or item failures
    item_failures: int = 0  # of which Firestore errors or bugs (DMS_SYNC_ITEM_FAILED)
    left_for_next_run: int = 0
    stopped_early: bool = False
    lag_seconds: int = 0
    changed: list[str] = field(default_factory=list)  # enquiry ids

    def as_dict(self) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            "fullSweep": self.full_sweep,
            "considered": self.considered,
            "due": self.due,
            "looked": self.looked,
            "keyloopReads": self.keyloop_reads,
            "outcomes": dict(sorted(self.outcomes.items())),
            "changed": len(self.changed),
            "changedEnquiryIds": self.changed[:_MAX_IDS_REPORTED],
            "failed": self.failed,
            "itemFailures": self.item_failures,
            "leftForNextRun": self.left_for_next_run,
            "stoppedEarly": self.stopped_early,
            "lagS": self.lag_seconds,
        }


@dataclass(frozen=True)
class _Candidate:
    start: datetime
    snapshot: Any
    check: dict[str, Any] | None


def sync(settings: SyncSettings | None = None) -> SyncReport:
    settings = settings or SyncSettings()
    client = firestore_client()
    report = SyncReport(run_id=uuid.uuid4().hex[:12])
    now = clock.now()
    candidates, off_schedule = _candidates(client, now, settings, report)
    due = [c for c in candidates if settings.force or schedule.is_due(c.check, c.start, now)]
    due.sort(key=lambda c: c.start)  # nearest first
    report.due = len(due)
    report.lag_seconds = _lag(due, now)
    bound = len(due) if settings.max_reads is None else settings.max_reads
    pending: list[tuple[str, dict[str, Any]]] = [(i, {"dueAt": DELETE_FIELD}) for i in off_schedule]
    handled: set[str] = set()
    failures_in_a_row = 0
    for candidate in due[:bound]:
        if failures_in_a_row >= _MAX_FAILURES_IN_A_ROW:
            report.stopped_early = True
            break
        looked = _look_and_apply(client, candidate, now, report)
        failures_in_a_row = failures_in_a_row + 1 if looked is None else 0
        if looked is not None:
            pending.append(looked)
            handled.add(candidate.snapshot.id)
        if len(pending) >= _RECORD_EVERY:
            _record(client, pending, report)
            pending = []
    # Due but not looked at (the bound, or stopped early): due from now on, by their record.
    pending.extend(
        schedule.still_due(c.snapshot.id, c.start, now)
        for c in due
        if c.snapshot.id not in handled and not _recorded_due(c.check, now)
    )
    _record(client, pending, report)
    report.left_for_next_run = report.due - len(handled)
    schedule.write_state(
        client, {"discoveredUpTo": now, **({"fullSweepAt": now} if report.full_sweep else {})}
    )
    logger.info("dms sync run finished", **report.as_dict())
    return report


def _lag(due: list[_Candidate], now: datetime) -> int:
    """How long past its due time the most overdue enquiry of this run was waiting, in whole
    seconds (the dashboard's sync lag): one never looked at has no record and is not counted."""
    overdue = [now - when for c in due if (when := schedule.due_at(c.check, c.start)) is not None]
    return max(0, int(max(overdue).total_seconds())) if overdue else 0


def _candidates(
    client: Any, now: datetime, settings: SyncSettings, report: SyncReport
) -> tuple[list[_Candidate], list[str]]:
    """The future BOOKED enquiries to decide on, each with its record; and the ids of records
    due whose enquiry is no longer followed (cancelled, completed, past, gone)."""
    state = schedule.state(client)
    swept_at = state.get("fullSweepAt")
    discovered = state.get("discoveredUpTo")
    report.full_sweep = (
        settings.force
        or not isinstance(swept_at, datetime)
        or not isinstance(discovered, datetime)
        or swept_at + schedule.FULL_SWEEP_EVERY <= now
    )
    due_records: dict[str, dict[str, Any]] = {}
    if report.full_sweep or not isinstance(discovered, datetime):
        snapshots = schedule.every_future_booked(client, now)
    else:
        due_records = schedule.due_records(client, now)
        due_records.pop(schedule.STATE_ID, None)
        snapshots = schedule.changed_since(client, discovered - schedule.DISCOVERY_MARGIN)
        seen = {s.id for s in snapshots}
        snapshots += schedule.enquiries_by_id(client, [i for i in due_records if i not in seen])
    followed = [(start, s) for s in snapshots if (start := _followed(s, now, settings)) is not None]
    ids = [s.id for _, s in followed]
    records = schedule.records(client, [i for i in ids if i not in due_records])
    records.update(due_records)
    report.considered = len(followed)
    off_schedule = [i for i in due_records if i not in set(ids)]
    return [_Candidate(start, s, records.get(s.id)) for start, s in followed], off_schedule


def _followed(snapshot: Any, now: datetime, settings: SyncSettings) -> datetime | None:
    """The slot's start when the enquiry is a future BOOKED Keyloop booking (in the horizon)."""
    enquiry = snapshot.to_dict() or {}
    dms = enquiry.get("dms") or {}
    if enquiry.get("status") != EnquiryStatus.BOOKED.value:
        return None
    if dms.get("provider") != "KEYLOOP" or not dms.get("appointmentId"):
        return None
    start = _start(enquiry)
    if start is None or start <= now:
        return None
    if settings.horizon is not None and start > now + settings.horizon:
        return None
    return start


def _look_and_apply(
    client: Any, candidate: _Candidate, now: datetime, report: SyncReport
) -> tuple[str, dict[str, Any]] | None:
    """One enquiry: its record when handled, None when not (counted and logged here)."""
    snapshot = candidate.snapshot
    dms = (snapshot.to_dict() or {}).get("dms") or {}
    report.looked += 1

    def read() -> DmsView:
        report.keyloop_reads += 1
        return look(store_from(dms), str(dms["appointmentId"]))

    try:
        outcome, view = settle(client, snapshot, read, via="SYNC")
    except (KeyloopError, KeyError) as exc:
        report.failed += 1
        logger.warn(
            "dms sync could not look at an enquiry", enquiryId=snapshot.id, error=type(exc).__name__
        )
        return None
    except Exception as exc:  # Firestore failing on this enquiry, or a bug: the run goes on
        report.failed += 1
        report.item_failures += 1
        logger.error(
            ITEM_FAILED_MESSAGE,
            runId=report.run_id,
            enquiryId=snapshot.id,
            error=type(exc).__name__,
        )
        return None
    report.outcomes[outcome.value] = report.outcomes.get(outcome.value, 0) + 1
    if outcome is Outcome.CONFLICT:
        report.failed += 1  # stays due: the next run reads it again
        logger.warn("dms sync lost every write it tried on an enquiry", enquiryId=snapshot.id)
        return None
    if outcome is Outcome.MOVED_ON:  # our rearrange moved it meanwhile: read the new one soon
        return schedule.still_due(snapshot.id, candidate.start, now)
    if outcome.changed:
        report.changed.append(snapshot.id)
    start = view.due_in if outcome is Outcome.MOVED and view.due_in else candidate.start
    follow = outcome in (Outcome.UNCHANGED, Outcome.MOVED)
    return schedule.record(
        snapshot.id, checked=now, outcome=outcome.value, start=start, follow=follow
    )


def _record(client: Any, items: list[tuple[str, dict[str, Any]]], report: SyncReport) -> None:
    if not items:
        return
    try:
        schedule.write_records(client, items)
    except Exception as exc:  # those enquiries are read again next run: more reads, no harm
        report.item_failures += 1
        logger.error(
            ITEM_FAILED_MESSAGE,
            runId=report.run_id,
            enquiryId=None,
            records=len(items),
            error=type(exc).__name__,
        )


def _recorded_due(check: dict[str, Any] | None, now: datetime) -> bool:
    due = (check or {}).get("dueAt")
    return isinstance(due, datetime) and due <= now


def _start(enquiry: dict[str, Any]) -> datetime | None:
    value = (enquiry.get("slot") or {}).get("start")
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None
