"""A model-based test of the saga: Hypothesis interleaves creates, replays, cancels,
rearranges, reconciler runs, a dealer filling slots, and single faults of the explorer's kinds
(each call may carry one, at its first, second or third step of a kind), and checks the
invariants after every step: the weak ones (nothing lost, even mid-flight) always, all of
them after a reconciler run. `make test` runs a bounded number of examples; `make soak` runs
many more (SAGA_MODEL_EXAMPLES, SAGA_MODEL_STEPS, SAGA_MODEL_RANDOM=1)."""

from __future__ import annotations

import contextlib
import os
from datetime import datetime
from typing import Any

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
from tests.saga.invariants import World, violations
from tests.saga.steps import FAULTS, Injection
from tests.saga.world import SagaWorld
from visn.infra import clients

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

    def _call(self, name: str, data: dict[str, Any], fault: Injection | None) -> Outcome | None:
        MODEL["calls"] += 1
        with self.world.recorder.recording(fault):
            outcome = self.world.call(name, data)
        made = outcome.result.get("enquiryId") if outcome is not None and outcome.ok else None
        if made is not None and made not in self.enquiries:
            self.enquiries.append(made)
        return outcome

    def _keyed(self, name: str, key: str, data: dict[str, Any], fault: Injection | None) -> None:
        request = self.requests.setdefault(key, data)
        outcome = self._call(name, request, fault)
        if outcome is None or not outcome.ok:
            return
        earlier = self.results.setdefault(key, outcome.result)
        assert outcome.result == earlier, "a replay answered a different result"

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
        self.world.settle()
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
