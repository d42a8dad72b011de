"""The measurements, one function per figure of issue 6. Each returns plain numbers."""

from __future__ import annotations

import functools
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from visn.infra import clients
from visn.records import suppliers

from .bare import BareFirestore, BareKeyloop
from .driver import BOOKING_CALLABLES, Driver
from .measure import (
    FirestoreCounter,
    FirestoreOps,
    keyloop_ceiling,
    median,
    peak_rss_mib,
    timed,
    waves,
)
from .naive import NaiveFlow
from .plan import Plan
from .stack import Stack


@dataclass
class Bench:
    """Everything a phase needs: the stack, our callables, the bare and naive baselines."""

    stack: Stack
    driver: Driver
    plan: Plan
    counter: FirestoreCounter
    bare: BareKeyloop
    firestore: BareFirestore
    naive: NaiveFlow

    def book(self, hour: int = 10) -> dict[str, Any]:
        return self.driver.call("createBooking", self.plan.booking(hour))


def warm_up(bench: Bench) -> None:
    """Token, connections, supplier cache, Firestore channel: what a warm instance has."""
    bench.bare.fetch_token()
    for _ in range(3):
        bench.driver.call("getAvailability", bench.plan.availability(1))
        bench.driver.call("getAvailability", bench.plan.availability(7))
        bench.bare.availability(bench.plan.day)
        bench.bare.create()
        document = bench.firestore.create()
        bench.firestore.update(document)
        bench.firestore.batch(document)
    created = bench.book()
    moved = bench.driver.call(
        "rearrangeBooking", bench.plan.rearrangement(created["enquiryId"], hour=11)
    )
    bench.driver.call("cancelBooking", {"enquiryId": moved["enquiryId"]})


# -- 1. Keyloop requests and Firestore operations per warm call -----------------------------


@dataclass
class CallCounts:
    keyloop: dict[str, float] = field(default_factory=dict)
    naive_keyloop: dict[str, float] = field(default_factory=dict)
    firestore: dict[str, FirestoreOps] = field(default_factory=dict)
    # Milliseconds of each counted warm call (cancel and rearrange are timed only here).
    timings_ms: dict[str, list[float]] = field(default_factory=dict)


def count_calls(bench: Bench, calls: int) -> CallCounts:
    """Requests the sandbox logged, and Firestore documents read and written, per call.

    Keyloop requests are averaged (a token refresh would show as a fraction); Firestore
    operations are the median call's, as whole documents.
    """
    counts = CallCounts()
    # A fresh 30-s supplier cache entry, so that no counted call is one that reloads it.
    suppliers.suppliers.clear()
    bench.driver.call("getAvailability", bench.plan.availability(1))
    for name in BOOKING_CALLABLES:
        requests = 0
        used: list[FirestoreOps] = []
        times: list[float] = []
        for _ in range(calls):
            run = _ours(bench, name)
            before = bench.stack.upstream_total()
            with bench.counter.counting() as ops:
                elapsed, _ = timed(run)
            requests += bench.stack.upstream_total() - before
            used.append(ops)
            times.append(elapsed * 1000)
        counts.keyloop[name] = requests / calls
        counts.firestore[name] = FirestoreOps(
            reads=int(statistics.median_low(o.reads for o in used)),
            writes=int(statistics.median_low(o.writes for o in used)),
            rpcs=int(statistics.median_low(o.rpcs for o in used)),
        )
        counts.timings_ms[name] = times
        naive_requests = 0
        for _ in range(calls):
            run = _naive(bench, name)
            before = bench.stack.upstream_total()
            run()
            naive_requests += bench.stack.upstream_total() - before
        counts.naive_keyloop[name] = naive_requests / calls
    return counts


def _ours(bench: Bench, name: str) -> Callable[[], Any]:
    """One warm call of `name`, with whatever it needs set up beforehand (not counted)."""
    driver, plan = bench.driver, bench.plan
    if name == "getAvailability":
        return lambda: driver.call(name, plan.availability(1))
    if name == "createBooking":
        return lambda: driver.call(name, plan.booking())
    enquiry_id = bench.book()["enquiryId"]
    if name == "cancelBooking":
        return lambda: driver.call(name, {"enquiryId": enquiry_id})
    return lambda: driver.call(name, plan.rearrangement(enquiry_id))


def _naive(bench: Bench, name: str) -> Callable[[], Any]:
    naive, plan = bench.naive, bench.plan
    if name == "getAvailability":
        return lambda: naive.availability(plan.day, 1)
    if name == "createBooking":
        return naive.create
    appointment_id = str(bench.bare.create()["appointmentId"])
    if name == "cancelBooking":
        return lambda: naive.cancel(appointment_id)
    return lambda: naive.rearrange(appointment_id)


# -- 2. warm getAvailability against one bare Keyloop round trip ----------------------------


@dataclass
class Availability:
    ours_ms: list[float]
    bare_ms: list[float]


def availability(bench: Bench, iterations: int) -> Availability:
    """Interleaved, so that both see the same machine."""
    ours: list[float] = []
    bare: list[float] = []
    request = bench.plan.availability(1)
    for _ in range(iterations):
        ours.append(timed(lambda: bench.driver.call("getAvailability", request))[0] * 1000)
        bare.append(timed(lambda: bench.bare.availability(bench.plan.day))[0] * 1000)
    return Availability(ours, bare)


# -- 3. seven days against one, ours and the naive flow's -----------------------------------


@dataclass
class Ranges:
    ours_1d_ms: list[float]
    ours_7d_ms: list[float]
    naive_1d_ms: list[float]
    naive_7d_ms: list[float]


def ranges(bench: Bench, iterations: int) -> Ranges:
    result = Ranges([], [], [], [])
    one, seven = bench.plan.availability(1), bench.plan.availability(7)
    for _ in range(iterations):
        result.ours_1d_ms.append(timed(lambda: bench.driver.call("getAvailability", one))[0] * 1e3)
        result.ours_7d_ms.append(
            timed(lambda: bench.driver.call("getAvailability", seven))[0] * 1e3
        )
        result.naive_1d_ms.append(
            timed(lambda: bench.naive.availability(bench.plan.day, 1))[0] * 1e3
        )
        result.naive_7d_ms.append(
            timed(lambda: bench.naive.availability(bench.plan.day, 7))[0] * 1e3
        )
    return result


# -- 4. createBooking against one Keyloop round trip plus its Firestore writes --------------


@dataclass
class Create:
    ours_ms: list[float]
    keyloop_ms: list[float]
    fs_create_ms: list[float]
    fs_update_ms: list[float]
    fs_batch_ms: list[float]

    @property
    def limit_ms(self) -> float:
        return (
            median(self.keyloop_ms)
            + median(self.fs_create_ms)
            + median(self.fs_update_ms)
            + median(self.fs_batch_ms)
        )


def create(bench: Bench, iterations: int) -> Create:
    result = Create([], [], [], [], [])
    for _ in range(iterations):
        result.ours_ms.append(timed(bench.book)[0] * 1000)
        result.keyloop_ms.append(timed(bench.bare.create)[0] * 1000)
        elapsed, document = timed(bench.firestore.create)
        result.fs_create_ms.append(elapsed * 1000)
        update = functools.partial(bench.firestore.update, document)
        result.fs_update_ms.append(timed(update)[0] * 1000)
        batch = functools.partial(bench.firestore.batch, document)
        result.fs_batch_ms.append(timed(batch)[0] * 1000)
    return result


# -- 5. a burst of concurrent calls from a cold token cache ---------------------------------


@dataclass
class Burst:
    callers: int
    token_requests: int
    wall_s: float
    cold_call_s: float  # one call alone from the same cold state: a token and a day
    warm_call_s: float
    failures: int
    peak_rss_mib: float
    waves: int  # availability round trips the Keyloop ceiling allows the burst at best

    @property
    def ideal_s(self) -> float:
        """One cold call (the token, then the first wave), then a warm call per later wave."""
        return self.cold_call_s + (self.waves - 1) * self.warm_call_s

    @property
    def throughput_share(self) -> float:
        """The ideal burst the Keyloop ceiling allows over the achieved one."""
        return self.ideal_s / self.wall_s


def burst(bench: Bench, callers: int, warm_call_s: float) -> Burst:
    request = bench.plan.availability(1)
    driver = bench.driver
    cold: list[float] = []
    for _ in range(3):
        driver.call("getAvailability", request)  # supplier cache fresh: only the token is cold
        clients.reset()
        cold.append(timed(lambda: driver.call("getAvailability", request))[0])
    driver.call("getAvailability", request)
    clients.reset()
    tokens_before = bench.stack.upstream_counts()["token"]
    started: list[float] = []
    finished: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(callers, action=lambda: started.append(time.perf_counter()))

    def caller() -> None:
        driver.prepare_thread()
        barrier.wait()
        try:
            driver.call("getAvailability", request)
        except Exception as exc:
            with lock:
                failures.append(exc)
        with lock:
            finished.append(time.perf_counter())

    threads = [threading.Thread(target=caller, name=f"bench-caller-{i}") for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return Burst(
        callers=callers,
        token_requests=bench.stack.upstream_counts()["token"] - tokens_before,
        wall_s=max(finished) - started[0],
        cold_call_s=median(cold),
        warm_call_s=warm_call_s,
        failures=len(failures),
        peak_rss_mib=peak_rss_mib(),
        waves=waves(callers, keyloop_ceiling()),
    )


@dataclass
class BareBurst:
    """The same burst made by a bare `requests` client: what Python HTTP alone allows here."""

    wall_s: float
    cold_call_s: float

    @property
    def throughput_share(self) -> float:
        return self.cold_call_s / self.wall_s


def bare_burst(bench: Bench, callers: int) -> BareBurst:
    """One thread fetches a token while the rest wait for it; then each asks for one day."""
    base_url, plan = bench.stack.sandbox_url, bench.plan
    cold: list[float] = []
    for _ in range(3):
        fresh = BareKeyloop(base_url, plan)
        cold.append(timed(functools.partial(_token_then_day, fresh, plan))[0])
        fresh.close()
    client = BareKeyloop(base_url, plan, pool_size=callers)
    token_ready = threading.Event()
    started: list[float] = []
    finished: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(callers, action=lambda: started.append(time.perf_counter()))

    def caller(leader: bool) -> None:
        barrier.wait()
        if leader:
            client.fetch_token()
            token_ready.set()
        token_ready.wait(timeout=30)
        client.availability(plan.day)
        with lock:
            finished.append(time.perf_counter())

    threads = [threading.Thread(target=caller, args=(i == 0,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    client.close()
    return BareBurst(wall_s=max(finished) - started[0], cold_call_s=median(cold))


def _token_then_day(client: BareKeyloop, plan: Plan) -> Any:
    client.fetch_token()
    return client.availability(plan.day)


def days_label(plan: Plan) -> str:
    last = plan.day + timedelta(days=6)
    return f"{plan.day.isoformat()}..{last.isoformat()}"
