"""The shared availability cache: what Keyloop said of one store's day, for every instance.

One document per (store, day) in `liveDiary_availabilityCache`, holding one entry per service
set (the request Keyloop gets) and a `generation` that every change we know of on that day
increments (our create, cancel and rearrange, in the same write that records them; a dealer
change applied by the DMS sync; a create refused as SLOT_UNAVAILABLE). An entry answers only
while it is fresh (`AVAILABILITY_CACHE_SECONDS`) and was fetched under the day's current
generation: the generation is read before Keyloop is asked, so a fetch that raced a booking
is never served after that booking is recorded (docs/decisions.md, "Availability cache").

One refresh per entry at a time: in this process, callers of the same cold entry that read the
same generation share one fetch (one who read a newer generation never takes the answer of a
fetch begun before it); across instances, the first takes a lease (a conditional write on the
document) and the others wait for its answer. A Keyloop failure is not cached: the leader
records only that its lease failed, so that the callers waiting on it answer the day as
unavailable at once rather than each trying Keyloop in turn. When Firestore cannot be
reached, days are fetched from Keyloop directly: the cache never fails a view.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from firebase_functions import logger
from google.api_core import exceptions as gexc

from keyloop import KeyloopError, KeyloopUnavailableError, Slot, Store
from visn.contract import telemetry
from visn.infra import clock, db, settings
from visn.records.namespace import AVAILABILITY_CACHE

if TYPE_CHECKING:
    from google.cloud.firestore import Client, DocumentReference

COLLECTION = AVAILABILITY_CACHE
# Longer than one Keyloop availability call may take (connect + read timeouts, defaults
# 3 s + 10 s): a lease outliving its leader only delays the next refresh until it ends.
LEASE = timedelta(seconds=15)
POLL_SECONDS = 0.05  # how often a caller waiting on another instance's lease looks again
# Past days are of no use: a TTL policy on `expireAt` deletes the document (docs/deploy.md).
_KEEP_AFTER_DAY = timedelta(days=2)
# Instances' clocks differ a little; an entry from further "in the future" is not trusted.
_CLOCK_SKEW = timedelta(seconds=5)
_FIRESTORE_ERRORS = (gexc.GoogleAPIError, gexc.RetryError)

Outcome = list[Slot] | KeyloopError
Fetch = Callable[[date], list[Slot]]
MapDays = Callable[[Callable[[int], Outcome], Sequence[int]], list[Outcome]]


class LeaderFailedError(KeyloopUnavailableError):
    """The refresh this caller waited on failed in Keyloop (its error is the leader's)."""


@dataclass(frozen=True)
class Entry:
    """One cache entry: a store's day for one service set."""

    store: Store
    day: date
    products: tuple[str, ...]
    option: str | None

    @property
    def key(self) -> str:
        # A service set, in any order, is one Keyloop question.
        raw = "\0".join([*sorted(self.products), "|", self.option or ""])
        return "s" + hashlib.sha256(raw.encode()).hexdigest()[:20]

    def flight(self, generation: int) -> str:
        # A caller shares only a fetch that began under the generation it read itself: one
        # begun before a change it has seen recorded would answer it from before that change.
        return f"{day_id(self.store, self.day)}/{self.key}@{generation}"


@dataclass(frozen=True)
class _State:
    """A day's document as read, seen from one entry."""

    exists: bool
    update_time: Any
    generation: int
    entry: dict[str, Any]

    def slots_if_fresh(self, now: datetime) -> list[Slot] | None:
        fetched = self.entry.get("fetchedAt")
        slots = self.entry.get("slots")
        if (
            not isinstance(fetched, datetime)
            or not isinstance(slots, list)
            or self.entry.get("generation") != self.generation
            or not -_CLOCK_SKEW <= now - fetched < freshness()
        ):
            return None
        return [_slot_from(raw) for raw in slots]

    def lease(self, now: datetime) -> str | None:
        until = self.entry.get("leaseUntil")
        lease_id = self.entry.get("leaseId")
        # A lease taken under an older generation is not waited on: its answer will not be
        # served under this one (a lease without the field is honoured, as before).
        taken_under = self.entry.get("leaseGeneration", self.generation)
        if (
            isinstance(lease_id, str)
            and isinstance(until, datetime)
            and until > now
            and taken_under == self.generation
        ):
            return lease_id
        return None


def freshness() -> timedelta:
    return timedelta(seconds=max(0, settings.AVAILABILITY_CACHE_SECONDS.value))


def day_id(store: Store, day: date | str) -> str:
    digest = hashlib.sha256(f"{store.enterprise_id}\0{store.store_id}".encode()).hexdigest()
    return f"{digest[:24]}-{day if isinstance(day, str) else day.isoformat()}"


def day_ref(client: Client, store: Store, day: date | str) -> DocumentReference:
    return client.collection(COLLECTION).document(day_id(store, day))


# -- reading, with one refresh per entry at a time -------------------------------------------


def days(
    client: Client,
    entries: Sequence[Entry],
    fetch: Fetch,
    map_days: MapDays,
) -> list[Outcome]:
    """Each entry's slots: fresh from the cache (all days read in one round trip), else from
    Keyloop through `fetch`, the misses run by `map_days` (concurrently)."""
    if freshness() <= timedelta(0):  # turned off: nothing could ever be served
        telemetry.count(cacheHits=0, cacheMisses=len(entries))
        return map_days(lambda i: _direct(fetch, entries[i].day), range(len(entries)))
    try:
        snapshots = _read_all(client, entries)
    except _FIRESTORE_ERRORS as exc:
        logger.warn("availability cache unreadable: asking Keyloop", cause=type(exc).__name__)
        telemetry.count(cacheHits=0, cacheMisses=len(entries))
        return map_days(lambda i: _direct(fetch, entries[i].day), range(len(entries)))
    now = clock.now()
    states = [_state(snapshots.get(day_id(e.store, e.day)), e) for e in entries]
    outcomes: list[Outcome | None] = [state.slots_if_fresh(now) for state in states]
    misses = [i for i, outcome in enumerate(outcomes) if outcome is None]
    # Per day: a hit is a fresh entry served; a miss is anything that went to a refresh.
    telemetry.count(cacheHits=len(entries) - len(misses), cacheMisses=len(misses))
    if misses:
        refreshed = map_days(lambda i: _refresh(client, entries[i], states[i], fetch), misses)
        for i, outcome in zip(misses, refreshed, strict=True):
            outcomes[i] = outcome
    return [o for o in outcomes if o is not None]


class _Flights:
    """Callers in this process asking for the same entry at once share one refresh."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Future[Outcome]] = {}

    def join(self, flight: str, run: Callable[[], Outcome]) -> Outcome:
        with self._lock:
            running = self._running.get(flight)
            leader = running is None
            if running is None:
                running = self._running[flight] = Future()
        if not leader:
            return running.result()
        try:
            outcome = run()
        except BaseException as exc:
            running.set_exception(exc)
            raise
        else:
            running.set_result(outcome)
            return outcome
        finally:
            with self._lock:
                del self._running[flight]


_flights = _Flights()


def _refresh(client: Client, entry: Entry, state: _State, fetch: Fetch) -> Outcome:
    return _flights.join(
        entry.flight(state.generation), lambda: _refresh_shared(client, entry, state, fetch)
    )


def _refresh_shared(client: Client, entry: Entry, state: _State, fetch: Fetch) -> Outcome:
    """Take the entry's lease and refresh it, or wait for the instance that holds it."""
    deadline = time.monotonic() + LEASE.total_seconds()
    waited_on: str | None = None
    try:
        while True:
            now = clock.now()
            fresh = state.slots_if_fresh(now)
            if fresh is not None:
                return fresh
            if waited_on is not None and state.entry.get("failedLease") == waited_on:
                return LeaderFailedError("the refresh this call waited on failed")
            holder = state.lease(now)
            if holder is None:
                lease_id = _take_lease(client, entry, state, now)
                if lease_id is not None:
                    return _fetch_and_store(client, entry, state.generation, lease_id, fetch)
            elif time.monotonic() >= deadline:
                break  # the holder is gone or slow: do not wait for ever
            else:
                waited_on = holder
                time.sleep(POLL_SECONDS)
            state = _state(day_ref(client, entry.store, entry.day).get(**db.call_options()), entry)
    except _FIRESTORE_ERRORS as exc:
        logger.warn("availability cache unavailable: asking Keyloop", cause=type(exc).__name__)
    return _direct(fetch, entry.day)


def _take_lease(client: Client, entry: Entry, state: _State, now: datetime) -> str | None:
    """The lease id if this caller now holds the entry's lease; None if the document changed
    since it was read (read it again and decide afresh)."""
    lease_id = uuid.uuid4().hex
    ref = day_ref(client, entry.store, entry.day)
    lease = {"leaseId": lease_id, "leaseUntil": now + LEASE, "leaseGeneration": state.generation}
    try:
        if state.exists:
            ref.update(
                {f"entries.{entry.key}.{k}": v for k, v in lease.items()},
                option=client.write_option(last_update_time=state.update_time),
                **db.call_options(),
            )
        else:
            ref.create(
                {**_day_fields(entry.store, entry.day), "entries": {entry.key: lease}},
                **db.call_options(),
            )
    except (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.NotFound):
        return None
    return lease_id


def _fetch_and_store(
    client: Client, entry: Entry, generation: int, lease_id: str, fetch: Fetch
) -> Outcome:
    outcome = _direct(fetch, entry.day)
    path = f"entries.{entry.key}"
    fields: dict[str, Any]
    if isinstance(outcome, KeyloopError):
        # Never cached as "no slots": only the lease's failure, for the callers waiting on it.
        fields = {f"{path}.failedLease": lease_id, f"{path}.leaseUntil": None}
    else:
        fields = {
            path: {
                # The generation read before Keyloop was asked: a change recorded since then
                # has moved the day's generation on, and this entry will not be served.
                "generation": generation,
                "fetchedAt": clock.now(),
                "slots": [_slot_json(s) for s in outcome],
            }
        }
    try:
        day_ref(client, entry.store, entry.day).update(fields, **db.call_options())
    except _FIRESTORE_ERRORS as exc:
        # The answer stands; the lease runs out and the next caller refreshes.
        logger.warn("availability cache not written", cause=type(exc).__name__)
    return outcome


def _direct(fetch: Fetch, day: date) -> Outcome:
    try:
        return fetch(day)
    except KeyloopError as exc:
        return exc


def _read_all(client: Client, entries: Iterable[Entry]) -> dict[str, Any]:
    refs = {day_id(e.store, e.day): day_ref(client, e.store, e.day) for e in entries}
    return {s.id: s for s in client.get_all(list(refs.values()), **db.call_options())}


def _state(snapshot: Any, entry: Entry) -> _State:
    if snapshot is None or not snapshot.exists:
        return _State(False, None, 0, {})
    data = snapshot.to_dict() or {}
    generation = data.get("generation", 0)
    entries = data.get("entries")
    raw = entries.get(entry.key) if isinstance(entries, dict) else None
    return _State(
        True,
        snapshot.update_time,
        generation if isinstance(generation, int) else -1,
        raw if isinstance(raw, dict) else {},
    )


# -- invalidation ----------------------------------------------------------------------------


def invalidate(writer: Any, client: Client, store: Store, days: Iterable[date | str]) -> None:
    """Add to `writer` (a batch or a transaction: the write that records the change) the
    move of each day's generation: every entry of those days stops being served."""
    from google.cloud.firestore import Increment

    for day in sorted({str(d) for d in days}):
        writer.set(
            day_ref(client, store, day),
            {**_day_fields(store, day), "generation": Increment(1)},
            merge=True,
        )


def invalidate_now(client: Client, store: Store, days: Iterable[date | str]) -> None:
    """The same on its own (best effort: a cache that cannot be written only ages out)."""
    try:
        batch = client.batch()
        invalidate(batch, client, store, days)
        batch.commit(**db.call_options())
    except Exception as exc:
        logger.warn("availability cache not invalidated", cause=type(exc).__name__)


def slot_days(*slots: Any) -> list[str]:
    """The days (in the supplier's zone) of stored slots `{start, end}`: our slots are kept
    as ISO-8601 with the supplier's offset, so the date is their first ten characters."""
    found: set[str] = set()
    for slot in slots:
        if not isinstance(slot, dict):
            continue
        for key in ("start", "end"):
            value = slot.get(key)
            if isinstance(value, str) and len(value) >= 10:
                found.add(value[:10])
    return sorted(found)


def _day_fields(store: Store, day: date | str) -> dict[str, Any]:
    when = day if isinstance(day, date) else date.fromisoformat(day)
    return {
        "enterpriseId": store.enterprise_id,
        "storeId": store.store_id,
        "date": when.isoformat(),
        "expireAt": datetime(when.year, when.month, when.day, tzinfo=UTC) + _KEEP_AFTER_DAY,
    }


def _slot_json(slot: Slot) -> dict[str, str | None]:
    return {"start": slot.start.isoformat(), "end": slot.end.isoformat() if slot.end else None}


def _slot_from(raw: Any) -> Slot:
    end = raw.get("end")
    return Slot(
        start=datetime.fromisoformat(raw["start"]),
        end=datetime.fromisoformat(end) if isinstance(end, str) else None,
    )
