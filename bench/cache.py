"""8. The shared availability cache (issue 15), measured with the cache on as deployed.

The other figures measure the path without the cache (the bench's environment sets
AVAILABILITY_CACHE_SECONDS=0: every view asks Keyloop); these run under the param's default:

a. a cache-hit getAvailability (1 day, the request of figure 2, through the same driver) over
   the bare Keyloop round trip, interleaved, at each sandbox latency of `HIT_LATENCIES_MS`;
   and a miss (the day invalidated just before, as our own booking does) over the same;
b. Keyloop availability calls (the sandbox's request log) for 100 views of one cold store-day
   by 10 users within a window: each user's first view released together, the rest at seeded
   random times; once as is, once with our own bookings of that day in the window;
c. findFirstAvailable when the first free day is 10 days out (the days before it closed in the
   sandbox) against getAvailability day by day until that day, the cache wiped before each;
d. Firestore documents read per cached view (bench/measure.py's FirestoreCounter wraps the
   Firestore client's commit, batch-get and query RPCs in this process).
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

from devtools.seed import UK_SUPPLIER
from keyloop import Store
from visn.records import suppliers

from .driver import User
from .measure import FirestoreOps, median, timed
from .phases import Bench
from .plan import SERVICE_TYPES, ZONE, Plan
from .stack import ENTERPRISE_ID, PROJECT, STORE_CAPACITY, STORE_ID

CACHE_SECONDS = "60"  # AVAILABILITY_CACHE_SECONDS's default, set for this figure only
HIT_LATENCIES_MS = (50.0, 200.0)
USERS, VIEWS, OWN_BOOKINGS = 10, 100, 2
VIEWS_TARGET = 2  # plus one per invalidation
DAYS_OUT = 10  # c.: the first free day, counted from the day the search starts
SEED = 15


@dataclass(frozen=True)
class HitRun:
    latency_ms: float
    hit_ms: list[float]
    bare_ms: list[float]
    misses: int  # Keyloop availability calls the timed hits made: 0 when all were hits
    read_ms: list[float]  # a bare get of the entry's document: the floor under a hit
    miss_ms: list[float]  # the same view just after the day was invalidated

    @property
    def miss_ratio(self) -> float:
        return median(self.miss_ms) / median(self.bare_ms)

    @property
    def ratio(self) -> float:
        return median(self.hit_ms) / median(self.bare_ms)


@dataclass(frozen=True)
class ViewsRun:
    window_s: float
    invalidations: int  # our own bookings of the day, each moving its generation
    keyloop_calls: int
    failures: int
    wall_s: float

    @property
    def target(self) -> int:
        return VIEWS_TARGET + self.invalidations


@dataclass(frozen=True)
class FirstFree:
    ours_ms: list[float]
    by_day_ms: list[float]
    ours_calls: int  # Keyloop availability calls of one search
    by_day_calls: int
    days_searched: int

    @property
    def ratio(self) -> float:
        return median(self.ours_ms) / median(self.by_day_ms)


@dataclass(frozen=True)
class CacheFigures:
    hits: list[HitRun]
    views: list[ViewsRun]
    first: FirstFree
    reads: dict[int, FirestoreOps]  # days per view -> the median cached view's operations


def measure(bench: Bench, latency_ms: float, iterations: int, window_s: float) -> CacheFigures:
    """Each part with the cache on; the sandbox's latency is set back to `latency_ms`."""
    with _cache_on():
        hits = [_hits(bench, latency, iterations) for latency in HIT_LATENCIES_MS]
        bench.stack.post("latency", {"ms": latency_ms})
        # Days no other figure views: cold when their views begin.
        view_days = _open_days(bench.plan.day + timedelta(days=14), 2)
        views = [
            _views(bench, day, window_s, bookings)
            for day, bookings in zip(view_days, (0, OWN_BOOKINGS), strict=True)
        ]
        first = _first_free(bench, max(3, iterations // 20))
        reads = {days: _reads(bench, days, max(3, iterations // 20)) for days in (1, 7)}
    return CacheFigures(hits, views, first, reads)


@contextmanager
def _cache_on() -> Iterator[None]:
    before = os.environ.get("AVAILABILITY_CACHE_SECONDS")
    os.environ["AVAILABILITY_CACHE_SECONDS"] = CACHE_SECONDS
    try:
        yield
    finally:
        if before is None:
            del os.environ["AVAILABILITY_CACHE_SECONDS"]
        else:
            os.environ["AVAILABILITY_CACHE_SECONDS"] = before


def _keyloop_views(bench: Bench) -> int:
    return bench.stack.upstream_counts()["availability"]


# -- a. a cache hit against the bare round trip --------------------------------------------


def _hits(bench: Bench, latency_ms: float, iterations: int) -> HitRun:
    """Interleaved, as figure 2: a miss (the day invalidated first, as our own booking does),
    a hit, a bare round trip, a bare read of the day's document."""
    from google.cloud import firestore

    from visn.availability.cache import day_ref, invalidate_now

    bench.stack.post("latency", {"ms": latency_ms})
    request = bench.plan.availability(1)
    bench.driver.call("getAvailability", request)  # fills the entry (or finds it fresh)
    bench.bare.availability(bench.plan.day)
    client = firestore.Client(project=PROJECT)
    store = Store(ENTERPRISE_ID, STORE_ID)
    document = day_ref(client, store, bench.plan.day)
    document.get()
    miss: list[float] = []
    hit: list[float] = []
    bare: list[float] = []
    read: list[float] = []
    before = _keyloop_views(bench)
    for _ in range(iterations):
        invalidate_now(client, store, [bench.plan.day])
        miss.append(timed(lambda: bench.driver.call("getAvailability", request))[0] * 1000)
        hit.append(timed(lambda: bench.driver.call("getAvailability", request))[0] * 1000)
        bare.append(timed(lambda: bench.bare.availability(bench.plan.day))[0] * 1000)
        read.append(timed(document.get)[0] * 1000)
    misses = _keyloop_views(bench) - before - 2 * iterations  # less the misses' and bare
    client.close()  # type: ignore[no-untyped-call]
    return HitRun(latency_ms, hit, bare, misses, read, miss)


# -- b. 100 views of one store-day by 10 users ---------------------------------------------


def _views(bench: Bench, day: date, window_s: float, bookings: int) -> ViewsRun:
    """Every user's first view at once (a cold day), the other views at seeded random times
    in the window; `bookings` of our own at even intervals in it."""
    schedule = random.Random(SEED + bookings)
    per_user = VIEWS // USERS
    times = [
        [0.0, *sorted(schedule.uniform(0, window_s) for _ in range(per_user - 1))]
        for _ in range(USERS)
    ]
    users = [User(f"bench-viewer-{i}", f"cust-bench-viewer-{i}") for i in range(USERS)]
    request = {**bench.plan.availability(1), "date": day.isoformat()}
    failures: list[BaseException] = []
    lock = threading.Lock()
    began: list[float] = []
    start = threading.Barrier(USERS + 1, action=lambda: began.append(time.perf_counter()))

    def at(offset: float) -> None:
        time.sleep(max(0.0, began[0] + offset - time.perf_counter()))

    def viewer(user: User, offsets: list[float]) -> None:
        bench.driver.prepare_thread()
        start.wait()
        for offset in offsets:
            at(offset)
            try:
                bench.driver.call("getAvailability", request, user)
            except Exception as exc:
                with lock:
                    failures.append(exc)

    threads = [
        threading.Thread(target=viewer, args=(user, offsets), name=f"bench-viewer-{i}")
        for i, (user, offsets) in enumerate(zip(users, times, strict=True))
    ]
    for thread in threads:
        thread.start()
    before = _keyloop_views(bench)
    start.wait()
    for i in range(bookings):
        at(window_s * (i + 1) / (bookings + 1))
        bench.driver.call("createBooking", _booking_on(bench.plan, day, 10 + i))
    for thread in threads:
        thread.join(timeout=window_s + 60)
    wall = time.perf_counter() - began[0]
    calls = _keyloop_views(bench) - before
    return ViewsRun(window_s, bookings, calls, len(failures), wall)


def _booking_on(plan: Plan, day: date, hour: int) -> dict[str, Any]:
    start = datetime.combine(day, clock_time(hour), ZONE)
    return {**plan.booking(hour), "slot": {"start": start.isoformat()}}


# -- c. findFirstAvailable against day-by-day views ----------------------------------------


def _first_free(bench: Bench, iterations: int) -> FirstFree:
    """The store closed for DAYS_OUT days from a weekday five weeks out (the days no other
    part touches); the cache wiped before each search, so that both ask Keyloop."""
    first = _open_days(bench.plan.day + timedelta(days=35), 1)[0]
    while (first + timedelta(days=DAYS_OUT)).weekday() > 4:
        first += timedelta(days=1)
    free = first + timedelta(days=DAYS_OUT)
    closed = [(first + timedelta(days=i)).isoformat() for i in range(DAYS_OUT)]
    _put_store(bench, {"closedDates": closed})
    search = {
        "supplierId": UK_SUPPLIER,
        "serviceTypes": SERVICE_TYPES,
        "from": first.isoformat(),
        "withinDays": 28,
        "count": 5,
    }
    ours_ms: list[float] = []
    by_day_ms: list[float] = []
    calls: dict[str, int] = {}
    found: dict[str, Any] = {}

    def ours() -> None:
        found.update(bench.driver.call("findFirstAvailable", search))

    def by_day() -> None:
        day = first
        while not _has_slots(bench, day):
            day += timedelta(days=1)
        found["byDay"] = day.isoformat()

    try:
        for _ in range(iterations):
            for name, run, times in (
                ("ours", ours, ours_ms),
                ("byDay", by_day, by_day_ms),
            ):
                _wipe_cache(bench)
                before = _keyloop_views(bench)
                times.append(timed(run)[0] * 1000)
                calls[name] = _keyloop_views(bench) - before
    finally:
        _put_store(bench, {})
    if found["slots"][0]["date"] != free.isoformat() or found["byDay"] != free.isoformat():
        raise RuntimeError(f"the first free day is not {free}: {found}")
    return FirstFree(ours_ms, by_day_ms, calls["ours"], calls["byDay"], found["daysSearched"])


def _has_slots(bench: Bench, day: date) -> bool:
    request = {**bench.plan.availability(1), "date": day.isoformat()}
    answer = bench.driver.call("getAvailability", request)
    return any(d["slots"] for d in answer["days"])


def _put_store(bench: Bench, fields: dict[str, Any]) -> None:
    """The bench's store as running_stack made it, plus `fields` (a PUT replaces it whole)."""
    response = bench.stack.http.put(
        f"{bench.stack.sandbox_url}/_sandbox/stores/{ENTERPRISE_ID}/{STORE_ID}",
        json={"capacity": STORE_CAPACITY, **fields},
        timeout=10,
    )
    response.raise_for_status()


def _wipe_cache(bench: Bench) -> None:
    from google.cloud import firestore

    from visn.availability.cache import COLLECTION

    client = firestore.Client(project=PROJECT)
    try:
        client.recursive_delete(client.collection(COLLECTION))
    finally:
        client.close()  # type: ignore[no-untyped-call]


# -- d. Firestore reads per cached view ------------------------------------------------------


def _reads(bench: Bench, days: int, calls: int) -> FirestoreOps:
    request = bench.plan.availability(days)
    # A fresh supplier entry (30 s, in memory) and fresh cache entries: no counted call
    # reloads either.
    suppliers.suppliers.clear()
    bench.driver.call("getAvailability", request)
    used: list[FirestoreOps] = []
    for _ in range(calls):
        with bench.counter.counting() as ops:
            bench.driver.call("getAvailability", request)
        used.append(ops)
    return FirestoreOps(
        reads=int(statistics.median_low(o.reads for o in used)),
        writes=int(statistics.median_low(o.writes for o in used)),
        rpcs=int(statistics.median_low(o.rpcs for o in used)),
    )


def _open_days(start: date, count: int) -> list[date]:
    """`count` Monday-to-Friday days from `start` on, a week apart (the store is open)."""
    while start.weekday() > 4:
        start += timedelta(days=1)
    return [start + timedelta(weeks=i) for i in range(count)]
