"""A model-based test of the saga: Hypothesis interleaves creates, replays, cancels,
rearranges, reconciler runs, a dealer filling slots, and single faults of the explorer's kinds
(each call may carry one, at its first, second or third step of a kind), and checks the
invariants after every step: the weak ones (nothing lost, even mid-flight) always, all of
them after a reconciler run with nothing in flight. Two actors may be in flight at once: one
rule starts a call (or a reconciler run, the clock past every threshold) on a thread of its
own, paused just before or after one of its steps (tests/saga/gates.py); the other rules run
beside it; another rule lets it go. `make test` runs a bounded number of examples; `make soak` runs
many more (SAGA_MODEL_EXAMPLES, SAGA_MODEL_STEPS, SAGA_MODEL_RANDOM=1)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from devtools.seed import SERVICE_PRODUCTS
from keyloop import KeyloopError, NewAppointment, Store
from tests.functions.harness import Outcome
from tests.functions.test_create_booking import booking
from tests.saga.conftest import MODEL
from tests.saga.gates import Gate, Running, start
from tests.saga.invariants import World, violations
from tests.saga.steps import FAULTS, Injection
from tests.saga.world import SagaWorld
from visn.infra import clients
from visn.saga.reconciler import ReconcilerIncomplete, ReconcilerSettings, reconcile

T = TypeVar("T")
# A rule beside a paused actor may wait on it (a lock it holds): after this long, it is let go.
BESIDE = 8.0
FINISH = 90.0

EXAMPLES = int(os.environ.get("SAGA_MODEL_EXAMPLES", "12"))
STEPS = int(os.environ.get("SAGA_MODEL_STEPS", "15"))
SLOTS = tuple(
    f"2027-01-{day}T{hour}:00:00+00:00" for day in (12, 13) for hour in ("09", "10", "11", "14")
)
# Mostly fresh keys (a new booking), sometimes one already used (a retry that replays).
KEYS = st.one_of(
    st.integers(0, 10**9).map(lambda i: f"key-model-{i:010d}"),
    st.sampled_from([f"key-model-{i:010d}" for i in range(3)]),
)
FAULT_CHOICES = [(kind, fault) for kind, faults in FAULTS.items() for fault in faults]
STORE = Store("ENT-1001", "STORE-01")


FAULT = st.one_of(
    st.none(),
    st.builds(
        lambda choice, nth: Injection(-1, choice[1], kind=choice[0], nth=nth),
        st.sampled_from(FAULT_CHOICES),
        st.integers(0, 2),
    ),
)


@dataclass
class InFlight:
    """An actor paused at one of its steps (or already done, when it had fewer)."""

    kind: str
    running: Running[Outcome | None]
    gate: Gate
    done: Callable[[], None]  # closes its recording
    key: str | None = None


class SagaModel(RuleBasedStateMachine):
    world: SagaWorld  # set by the test before the machine runs

    def __init__(self) -> None:
        super().__init__()
        self.world.reset()
        MODEL["examples"] += 1
        self.requests: dict[str, dict[str, Any]] = {}  # key -> the request first sent with it
        self.results: dict[str, dict[str, Any]] = {}  # key -> a success's result
        self.enquiries: list[str] = []
        self.dealer = 0
        self.in_flight: InFlight | None = None

    def _beside(self, run: Callable[[], T]) -> T:
        """`run` here, or beside the paused actor: if it cannot finish while that one is
        paused (it waits on a lock the other holds), the paused one is let go first."""
        if self.in_flight is None:
            return run()
        running = start(run, name="model-beside").go()
        if not running.wait(BESIDE):
            # Let the paused one go and finish first, so that what each did does not hang
            # on which thread the machine happened to run first (Hypothesis replays it).
            self.in_flight.gate.release()
            self.in_flight.running.wait(FINISH)
        assert running.wait(FINISH), "a rule beside a paused actor did not finish"
        return running.result()

    def _made(self, outcome: Outcome | None) -> None:
        made = outcome.result.get("enquiryId") if outcome is not None and outcome.ok else None
        if made is not None and made not in self.enquiries:
            self.enquiries.append(made)

    def _call(self, name: str, data: dict[str, Any], fault: Injection | None) -> Outcome | None:
        MODEL["calls"] += 1

        def call() -> Outcome | None:
            with self.world.recorder.recording(fault):
                return self.world.call(name, data)

        outcome = self._beside(call)
        self._made(outcome)
        return outcome

    def _keyed(self, name: str, key: str, data: dict[str, Any], fault: Injection | None) -> None:
        request = self.requests.setdefault(key, data)
        self._answered(key, self._call(name, request, fault))

    def _answered(self, key: str, outcome: Outcome | None) -> None:
        if outcome is None or not outcome.ok:
            return
        earlier = self.results.setdefault(key, outcome.result)
        assert outcome.result == earlier, "a replay answered a different result"

    @precondition(lambda self: self.in_flight is None)
    @rule(
        kind=st.sampled_from(("create", "cancel", "rearrange", "reconciler")),
        data=st.data(),
        index=st.integers(0, 24),
        after=st.booleans(),
    )
    def start_paused(self, kind: str, data: st.DataObject, index: int, after: bool) -> None:
        """A second actor in flight: started on its own thread, paused at its step `index`
        (just before it, or just after), until `resume`."""
        key, run = self._actor(kind, data)
        if run is None:
            return
        MODEL["calls"] += 1
        MODEL["paused"] += 1
        running = start(run, name=f"model-{kind}")
        gate = Gate(index, after, running.ident)
        stack = contextlib.ExitStack()
        stack.enter_context(self.world.recorder.recording(thread=running.ident, gate=gate))
        running.go()
        while not (gate.reached.wait(0.02) or running.done.is_set()):
            pass
        self.in_flight = InFlight(kind, running, gate, stack.close, key)

    def _actor(
        self, kind: str, data: st.DataObject
    ) -> tuple[str | None, Callable[[], Outcome | None] | None]:
        if kind == "reconciler":

            def run_reconciler() -> None:
                self.world.at(self.world.minutes + 180)  # past every threshold
                with contextlib.suppress(ReconcilerIncomplete):
                    reconcile(ReconcilerSettings())

            return None, run_reconciler
        if kind == "create":
            key = data.draw(KEYS)
            body = booking(key=key, slot={"start": data.draw(st.sampled_from(SLOTS))})
            request = self.requests.setdefault(key, body)
            return key, lambda: self.world.call("createBooking", request)
        if not self.enquiries:
            return None, None
        # An index, not a pick from the list: the same draws whatever the list holds.
        enquiry_id = self.enquiries[data.draw(st.integers(0, 99)) % len(self.enquiries)]
        if kind == "cancel":
            return None, lambda: self.world.call("cancelBooking", {"enquiryId": enquiry_id})
        key = data.draw(KEYS)
        slot = {"start": data.draw(st.sampled_from(SLOTS))}
        move = {"idempotencyKey": key, "enquiryId": enquiry_id, "slot": slot}
        request = self.requests.setdefault(key, move)
        return key, lambda: self.world.call("rearrangeBooking", request)

    @precondition(lambda self: self.in_flight is not None)
    @rule()
    def resume(self) -> None:
        self._land()

    def _land(self) -> None:
        flight = self.in_flight
        if flight is None:
            return
        flight.gate.release()
        finished = flight.running.wait(FINISH)
        flight.done()
        self.in_flight = None
        assert finished, f"the paused {flight.kind} did not finish"
        outcome = flight.running.result()
        self._made(outcome)
        if flight.key is not None:
            self._answered(flight.key, outcome)

    def teardown(self) -> None:
        self._land()

    @rule(key=KEYS, slot=st.sampled_from(SLOTS), fault=FAULT)
    def create(self, key: str, slot: str, fault: Injection | None) -> None:
        self._keyed("createBooking", key, booking(key=key, slot={"start": slot}), fault)

    @precondition(lambda self: bool(self.requests))
    @rule(data=st.data(), fault=FAULT)
    def replay(self, data: st.DataObject, fault: Injection | None) -> None:
        key = data.draw(st.sampled_from(sorted(self.requests)))
        name = "rearrangeBooking" if "enquiryId" in self.requests[key] else "createBooking"
        self._keyed(name, key, self.requests[key], fault)

    @precondition(lambda self: bool(self.enquiries))
    @rule(data=st.data(), fault=FAULT)
    def cancel(self, data: st.DataObject, fault: Injection | None) -> None:
        enquiry_id = data.draw(st.sampled_from(self.enquiries))
        self._call("cancelBooking", {"enquiryId": enquiry_id}, fault)

    @precondition(lambda self: bool(self.enquiries))
    @rule(data=st.data(), key=KEYS, slot=st.sampled_from(SLOTS), fault=FAULT)
    def rearrange(self, data: st.DataObject, key: str, slot: str, fault: Injection | None) -> None:
        enquiry_id = data.draw(st.sampled_from(self.enquiries))
        request = {"idempotencyKey": key, "enquiryId": enquiry_id, "slot": {"start": slot}}
        self._keyed("rearrangeBooking", key, request, fault)

    @rule(slot=st.sampled_from(SLOTS))
    def dealer_books(self, slot: str) -> None:
        """Someone at the dealership books the slot in the DMS itself."""
        self._beside(lambda: self._dealer_books(slot))

    def _dealer_books(self, slot: str) -> None:
        self.dealer += 1
        new = NewAppointment(
            external_reference=f"dealer-{self.dealer}",
            due_in=datetime.fromisoformat(slot),
            due_out=None,
            service_product_ids=(SERVICE_PRODUCTS["MOT"],),
            given_name="Walk",
            family_name="In",
            license_plate="XX00 XXX",
        )
        with contextlib.suppress(KeyloopError):  # a full slot: the dealer could not book either
            clients.keyloop_client().create_appointment(STORE, new)

    @rule()
    def reconcile(self) -> None:
        self._beside(self.world.settle)
        # With an actor in flight, only the weak invariants (checked after every step) hold.
        if self.in_flight is None:
            found = violations(World.read(self.world.harness), settled=True)
            assert found == [], found

    @invariant()
    def nothing_is_lost(self) -> None:
        found = violations(World.read(self.world.harness), settled=False)
        assert found == [], found


def test_the_saga_model_keeps_its_promises(saga_world: SagaWorld) -> None:
    SagaModel.world = saga_world
    run_state_machine_as_test(
        SagaModel,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            derandomize=os.environ.get("SAGA_MODEL_RANDOM") != "1",
            suppress_health_check=list(HealthCheck),
        ),
    )
