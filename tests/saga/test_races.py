"""Issue 20's findings, each pinned by a test that failed before its fix: a second actor
arrives while a first is paused at one step (in-process gates around our own functions, on the
real Firestore emulator, the sandbox answering over sockets). The interleaving explorer
(test_interleavings.py) tries every step; these name the ones the review found."""

from __future__ import annotations

import pkgutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.cloud.firestore_v1.services.firestore.client import FirestoreClient

from tests.functions.harness import ALICE, Harness, Outcome, User
from tests.functions.test_create_booking import booking
from tests.saga.invariants import World, told_truth, violations
from tests.saga.world import SagaWorld
from visn.infra import clients
from visn.operator.attention import resolve
from visn.records import enquiry_numbers
from visn.saga.operations import OPERATIONS, operation_id
from visn.saga.reconciler import ReconcilerSettings, reconcile

KEY = "key-races-00000001"
OP = operation_id(ALICE.uid, KEY)
NEW_SLOT = {"start": "2027-01-13T14:00:00+00:00"}


@dataclass
class Gate:
    """Holds the first thread that reaches it until `release()`; later callers pass."""

    reached: threading.Event = field(default_factory=threading.Event)
    go: threading.Event = field(default_factory=threading.Event)
    _taken: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_here(self) -> None:
        with self._lock:
            first, self._taken = not self._taken, True
        if first:
            self.reached.set()
            assert self.go.wait(60), "the gate was never released"

    def release(self) -> None:
        self.go.set()


@contextmanager
def paused(target: str, *, after: bool = False) -> Iterator[Gate]:
    """The first call of `target` (a dotted name) waits at the gate, before (or after) it runs.
    Restored by hand, not by monkeypatch: the saga world's step recorder wraps some of these
    and restores them itself, before monkeypatch would undo."""
    owner_name, name = target.rsplit(".", 1)
    owner = pkgutil.resolve_name(owner_name)
    real: Callable[..., Any] = getattr(owner, name)
    gate = Gate()

    def gated(*args: Any, **kwargs: Any) -> Any:
        if not after:
            gate.wait_here()
        value = real(*args, **kwargs)
        if after:
            gate.wait_here()
        return value

    setattr(owner, name, gated)
    try:
        yield gate
    finally:
        gate.release()
        setattr(owner, name, real)


@dataclass
class Actor:
    """A caller on a thread of its own (another instance, or a double click)."""

    thread: threading.Thread
    outcome: list[Outcome] = field(default_factory=list)

    @classmethod
    def start(cls, world: SagaWorld, name: str, data: dict[str, Any], user: User = ALICE) -> Actor:
        actor = cls(threading.Thread(target=lambda: None))
        actor.thread = threading.Thread(
            target=lambda: actor.outcome.append(world.harness.call(name, data, user)), daemon=True
        )
        actor.thread.start()
        return actor

    def told(self) -> Outcome:
        self.thread.join(60)
        assert self.outcome, "the actor never answered"
        return self.outcome[0]


def reached(gate: Gate) -> None:
    assert gate.reached.wait(30), "the actor never reached its gate"


def reconciler_past_every_threshold(world: SagaWorld) -> None:
    world.at(world.minutes + 180)
    reconcile(ReconcilerSettings())


def end_state(world: SagaWorld) -> list[str]:
    world.settle()
    world.person()
    world.settle()
    return violations(World.read(world.harness), settled=True, person_done=True)


def _booked(world: SagaWorld) -> dict[str, Any]:
    return world.harness.call("createBooking", booking(key="key-races-setup-001")).result


# -- finding 1: the reconciler settles a saga still running ---------------------------------


def test_a_create_resumed_after_the_reconciler_compensated_it_does_not_book(
    saga_world: SagaWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = saga_world
    with paused("visn.saga.booking.write_enquiry") as gate:
        creating = Actor.start(world, "createBooking", booking(key=KEY))
        reached(gate)
        reconciler_past_every_threshold(world)  # BOOKED, stale: compensated, A cancelled
        assert world.harness.doc(OPERATIONS, OP)["status"] == "COMPENSATED"  # type: ignore[index]
        gate.release()
        told = creating.told()
    assert told.reason == "BOOKING_NOT_SAVED"
    assert world.harness.docs("enquiries") == {}
    problems = end_state(world)
    problems += told_truth(
        World.read(world.harness), "create", told, op_id=OP, enquiry_id=None, old_appointment=None
    )
    assert problems == []


def test_a_rearrange_resumed_after_the_reconciler_compensated_it_keeps_the_old_booking(
    saga_world: SagaWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = saga_world
    created = _booked(world)
    move = {"idempotencyKey": KEY, "enquiryId": created["enquiryId"], "slot": NEW_SLOT}
    with paused("visn.saga.rearrange.move_enquiry") as gate:
        moving = Actor.start(world, "rearrangeBooking", move)
        reached(gate)
        reconciler_past_every_threshold(world)  # the new appointment B: compensated
        gate.release()
        told = moving.told()
    assert told.reason == "BOOKING_NOT_SAVED"
    enquiry = world.harness.doc("enquiries", created["enquiryId"])
    assert enquiry is not None
    assert (enquiry["status"], enquiry["dms"]["appointmentId"]) == (
        "BOOKED",
        created["appointmentId"],
    )
    live = [a["appointmentId"] for a in world.harness.appointments("BOOKED")]
    assert live == [created["appointmentId"]]  # the old one stands; B is cancelled
    assert end_state(world) == []


def test_a_same_key_retry_after_the_reconciler_and_the_slow_first_attempt_book_once(
    saga_world: SagaWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = saga_world
    with paused("visn.saga.booking.write_enquiry") as gate:
        slow = Actor.start(world, "createBooking", booking(key=KEY))
        reached(gate)
        reconciler_past_every_threshold(world)  # the first attempt's A: cancelled, key free
        retry = world.harness.call("createBooking", booking(key=KEY))  # passes the open gate
        assert retry.ok, retry.body
        gate.release()
        first = slow.told()
    assert first.reason == "BOOKING_NOT_SAVED"
    (enquiry,) = world.harness.docs("enquiries").values()
    assert enquiry["dms"]["appointmentId"] == retry.result["appointmentId"]
    live = [a["appointmentId"] for a in world.harness.appointments("BOOKED")]
    assert live == [retry.result["appointmentId"]]
    assert world.harness.call("createBooking", booking(key=KEY)).result == retry.result
    assert end_state(world) == []


def test_a_late_mark_does_not_reopen_an_operation_a_person_resolved(
    saga_world: SagaWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reconciler hands a stalled IN_PROGRESS to a person, who keeps the appointment found
    in the diary; the saga then resumes: it answers the booking the person kept."""
    world, h = saga_world, saga_world.harness
    with paused("keyloop.KeyloopClient.create_appointment", after=True) as gate:
        creating = Actor.start(world, "createBooking", booking(key=KEY))
        reached(gate)
        reconciler_past_every_threshold(world)  # IN_PROGRESS, stale: OUTCOME_UNKNOWN
        assert h.doc(OPERATIONS, OP)["status"] == "OUTCOME_UNKNOWN"  # type: ignore[index]
        (found,) = [a["appointmentId"] for a in h.appointments("BOOKED")]
        resolve(clients.firestore_client(), OP, booked=found)
        gate.release()
        told = creating.told()
    assert told.ok, told.body
    assert told.result["appointmentId"] == found
    operation = h.doc(OPERATIONS, OP)
    assert operation is not None
    assert operation["status"] == "COMPLETED"
    (enquiry,) = h.docs("enquiries").values()
    assert enquiry["dms"]["appointmentId"] == found
    assert end_state(world) == []


def test_a_create_the_reconciler_took_for_dead_while_keyloop_answered_books_anyway(
    saga_world: SagaWorld,
) -> None:
    """The reconciler's OUTCOME_UNKNOWN is its guess for a call that stalled; the call itself
    knows the appointment was made, takes its operation back on that version, and books."""
    world, h = saga_world, saga_world.harness
    with paused("keyloop.KeyloopClient.create_appointment", after=True) as gate:
        creating = Actor.start(world, "createBooking", booking(key=KEY))
        reached(gate)
        reconciler_past_every_threshold(world)
        assert h.doc(OPERATIONS, OP)["status"] == "OUTCOME_UNKNOWN"  # type: ignore[index]
        gate.release()
        told = creating.told()
    assert told.ok, told.body
    operation = h.doc(OPERATIONS, OP)
    assert operation is not None
    assert operation["status"] == "COMPLETED"
    (enquiry,) = h.docs("enquiries").values()
    assert enquiry["dms"]["appointmentId"] == told.result["appointmentId"]
    assert end_state(world) == []


# -- finding 2: two cancels of one booking ---------------------------------------------------


def test_a_double_click_cancel_whose_first_delete_is_refused_ends_cancelled(
    saga_world: SagaWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancel 1 writes CANCELLING; cancel 2 (a double click) sends its DELETE; cancel 1's
    DELETE meets a 409 (the DMS is processing the other) and takes back; cancel 2's DELETE
    succeeds. The enquiry must end CANCELLED, not BOOKED on a cancelled appointment."""
    world, h = saga_world, saga_world.harness
    created = _booked(world)
    cancel = {"enquiryId": created["enquiryId"]}
    with paused("keyloop.KeyloopClient.cancel_appointment") as first_gate:
        first = Actor.start(world, "cancelBooking", cancel)
        reached(first_gate)
        # Cancel 2 is held at its DELETE by the next gate, while cancel 1 meets the 409.
        with paused("visn.saga.cancel.settle_cancelled") as second_settle:
            # Past the 30 s a CANCELLING enquiry waits between two Keyloop attempts.
            world.at(world.minutes + 1)
            second = Actor.start(world, "cancelBooking", cancel)
            reached(second_settle)  # cancel 2's DELETE went through
            h.fault("cancel", status=409, body={"code": "CONFLICT"})
            # The DMS processes cancel 2 and answers cancel 1's DELETE with its 409; the
            # appointment reads back live until cancel 2 is done: play it as still live.
            monkeypatch.setattr("visn.saga.dms.cancelled_in_dms", lambda *_: False)
            first_gate.release()
            first_told = first.told()
            second_settle.release()
            second_told = second.told()
    assert first_told.reason == "DMS_REJECTED"
    assert second_told.result["status"] == "CANCELLED"
    enquiry = h.doc("enquiries", created["enquiryId"])
    assert enquiry is not None
    assert enquiry["status"] == "CANCELLED"
    assert [a["status"] for a in h.appointments()] == ["CANCELLED"]
    assert end_state(world) == []


def test_a_refused_answer_to_a_retried_delete_that_was_applied_is_not_taken_back(
    saga_world: SagaWorld,
) -> None:
    """urllib3 retries a DELETE the DMS applied (its answer was a 503); the retry meets a
    4xx. The appointment is read back before anything is taken back: it is cancelled."""
    world, h = saga_world, saga_world.harness
    created = _booked(world)
    h.fault("cancel", status=503, process=True)
    h.fault("cancel", status=400, body={"code": "VALIDATION"})
    told = h.call("cancelBooking", {"enquiryId": created["enquiryId"]})
    assert told.ok, told.body
    assert told.result["status"] == "CANCELLED"
    enquiry = h.doc("enquiries", created["enquiryId"])
    assert enquiry is not None
    assert enquiry["status"] == "CANCELLED"
    assert end_state(world) == []


def test_a_cancel_the_dms_refuses_with_409_answers_dms_rejected(saga_world: SagaWorld) -> None:
    world, h = saga_world, saga_world.harness
    created = _booked(world)
    h.fault("cancel", status=409, body={"code": "CONFLICT"})
    told = h.call("cancelBooking", {"enquiryId": created["enquiryId"]})
    assert (told.status, told.reason) == ("FAILED_PRECONDITION", "DMS_REJECTED")
    enquiry = h.doc("enquiries", created["enquiryId"])
    assert enquiry is not None
    assert enquiry["status"] == "BOOKED"
    assert [a["status"] for a in h.appointments()] == ["BOOKED"]
    assert end_state(world) == []


# -- finding 5: the numbered transaction and the saga have a budget --------------------------


def test_a_saga_past_its_deadline_does_not_make_its_closing_write(
    saga_world: SagaWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, h = saga_world, saga_world.harness
    monkeypatch.setattr("visn.saga.booking.Deadline.start", _expired)
    told = h.call("createBooking", booking(key=KEY))
    assert told.reason == "BOOKING_NOT_SAVED"
    assert h.docs("enquiries") == {}
    assert [a["status"] for a in h.appointments()] == ["CANCELLED"]
    operation = h.doc(OPERATIONS, OP)
    assert operation is not None
    assert operation["status"] == "COMPENSATED"
    assert end_state(world) == []


def _expired(seconds: float = 0.0) -> Any:
    from visn.saga.deadline import Deadline

    return Deadline(at=0.0)


def test_a_booking_that_waits_too_long_for_the_counter_books_nothing(
    saga_world: SagaWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another taker holds this instance's turn at the counter: the wait is bounded, and the
    caller is told to try again before anything is booked."""
    world, h = saga_world, saga_world.harness
    monkeypatch.setattr("visn.records.enquiry_numbers.TURN_WAIT_SECONDS", 0.5)
    lock = enquiry_numbers._one_taker_per_process
    assert lock.acquire(timeout=5)
    try:
        told = h.call("createBooking", booking(key=KEY))
    finally:
        lock.release()
    assert (told.status, told.reason) == ("UNAVAILABLE", "DATABASE_UNAVAILABLE")
    assert h.appointments() == []
    assert h.doc(OPERATIONS, OP) is None  # nothing claimed: the key is free
    assert h.call("createBooking", booking(key=KEY)).ok
    assert end_state(world) == []


def test_every_call_of_the_numbered_transaction_is_bounded(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Begin, reads and commit of the number's transaction each carry a timeout: none waits
    on the library's defaults (60 s, retried for minutes)."""
    seen: list[tuple[str, Any]] = []
    for name in ("begin_transaction", "commit", "run_query"):
        real = getattr(FirestoreClient, name)

        def spy(api: Any, *args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            request = kwargs.get("request") or {}
            if _name != "commit" or request.get("transaction"):
                seen.append((_name, kwargs.get("timeout")))
            return _real(api, *args, **kwargs)

        monkeypatch.setattr(FirestoreClient, name, spy)
    assert harness.call("createBooking", booking(key=KEY)).ok
    transaction_calls = [(n, t) for n, t in seen if n in ("begin_transaction", "commit")]
    assert transaction_calls, "no transaction was seen"
    assert all(isinstance(t, float) and t <= 5 for _, t in seen), seen


# -- finding 6: contention before commitment -------------------------------------------------


def test_twenty_callers_for_a_slot_of_three_ten_times_over(saga_world: SagaWorld) -> None:
    """Always 3 booked and 17 SLOT_UNAVAILABLE, never BOOKING_NOT_SAVED: the number's
    contention comes before Keyloop, and the write after Keyloop contends on nothing. Every
    number drawn is on an enquiry or on ViSN's abandoned list."""
    h = saga_world.harness
    h.http.put(
        f"{h.sandbox.url}/_sandbox/stores/ENT-1001/STORE-01", json={"capacity": 3}, timeout=5
    ).raise_for_status()
    users = [User(f"user-crowd-{i:02d}", "cust-a") for i in range(20)]
    for round_ in range(10):
        told = _crowd(h, users, round_)
        assert told == ["BOOKED"] * 3 + ["SLOT_UNAVAILABLE"] * 17, f"round {round_}: {told}"
    world = World.read(h)
    assert world.numbering == ()
    assert len(world.enquiries) == 30
    assert len(enquiry_numbers.abandoned_numbers(h.db)) == 170


def _crowd(h: Harness, users: list[User], round_: int) -> list[str]:
    """Every user asks for one slot at once; what each was told, sorted."""
    start = {"start": f"2027-01-{12 + round_ // 5:02d}T{9 + round_ % 5:02d}:00:00+00:00"}
    barrier = threading.Barrier(len(users))
    outcomes: list[Outcome] = []

    def call(user: User) -> None:
        barrier.wait()
        data = booking(key=f"key-crowd-{round_:02d}-{user.uid}", slot=start)
        outcomes.append(h.call("createBooking", data, user))

    threads = [threading.Thread(target=call, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return sorted("BOOKED" if o.ok else str(o.reason) for o in outcomes)
