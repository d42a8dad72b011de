"""One clean world per explored run: Firestore wiped, the sandbox reset, the clock pinned;
the flows the explorer and the model test drive; the reconciler run past every threshold;
and the person who settles what only a person can (from the dealer's diary, i.e. the
sandbox), with the operator command a real person would use."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import requests

from devtools.firestore_emulator import FirestoreEmulator
from devtools.seed import seed_firestore
from tests.functions.conftest import FROZEN_NOW
from tests.functions.harness import ALICE, Harness, Outcome
from tests.functions.test_create_booking import booking
from tests.saga.invariants import World
from tests.saga.steps import Injection, ProcessDied, StepRecorder
from visn.infra import clients
from visn.operator.attention import resolve
from visn.records import suppliers
from visn.saga.operations import OPERATIONS, operation_id
from visn.saga.reconciler import ReconcilerIncomplete, ReconcilerSettings, RunReport, reconcile

CREATE_KEY = "key-saga-create-0001"
REARRANGE_KEY = "key-saga-rearrange-01"
NEW_SLOT = {"start": "2027-01-13T14:00:00+00:00"}


@dataclass
class SagaWorld:
    harness: Harness
    emulator: FirestoreEmulator
    monkeypatch: pytest.MonkeyPatch
    recorder: StepRecorder
    minutes: float = 0.0
    reports: list[RunReport] = field(default_factory=list)

    def reset(self) -> None:
        self.emulator.wipe()
        requests.post(f"{self.harness.sandbox.url}/_sandbox/reset", timeout=5).raise_for_status()
        clients.reset()
        suppliers.suppliers.clear()
        seed_firestore(self.harness.db)
        self.at(0)

    def at(self, minutes: float) -> None:
        """Pin the business clock (visn.infra.clock) `minutes` after the scenarios' start."""
        self.minutes = minutes
        later = FROZEN_NOW + timedelta(minutes=minutes)
        self.monkeypatch.setattr("visn.infra.clock.now", lambda: later)

    def call(self, name: str, data: dict[str, Any]) -> Outcome | None:
        """A callable as the Web UI calls it; None when the instance died under it."""
        try:
            return self.harness.call(name, data)
        except ProcessDied:
            return None

    def settle(self, runs: int = 6) -> None:
        """The reconciler, each run past every threshold and back-off, until it is quiet."""
        for _ in range(runs):
            self.at(self.minutes + 180)
            report = reconcile(ReconcilerSettings())
            self.reports.append(report)
            busy = report.as_dict()
            if not any(v for k, v in busy.items() if k not in ("runId", "lostClaims")):
                return

    def person(self) -> int:
        """Settle every OUTCOME_UNKNOWN as a person would, from what the diary holds."""
        world = World.read(self.harness)
        resolved = 0
        for op_id, op in world.operations.items():
            if op.get("status") != "OUTCOME_UNKNOWN":
                continue
            found = world.live_for_operation(op_id)
            resolve(clients.firestore_client(), op_id, booked=found[0] if found else None)
            resolved += 1
        return resolved

    def die_at(self, label: str, run: Callable[[], Any]) -> None:
        """Set-up: run `run` with the process dying right after the step labelled `label`."""
        with self.recorder.recording(Injection(-1, "died", label=label)):
            run()
        assert self.recorder.injected, f"no step labelled {label!r}"


@dataclass
class Context:
    op_id: str | None = None
    enquiry_id: str | None = None
    old_appointment: str | None = None


@dataclass(frozen=True)
class Flow:
    name: str
    setup: Callable[[SagaWorld], Context]
    run: Callable[[SagaWorld, Context], Outcome | None]
    retry: Callable[[SagaWorld, Context], Outcome | None] | None


def _book(world: SagaWorld, key: str, start: str) -> dict[str, Any]:
    outcome = world.harness.call("createBooking", booking(key=key, slot={"start": start}))
    return outcome.result


def _create_setup(world: SagaWorld) -> Context:
    return Context(op_id=operation_id(ALICE.uid, CREATE_KEY))


def _create_run(world: SagaWorld, ctx: Context) -> Outcome | None:
    return world.call("createBooking", booking(key=CREATE_KEY))


def _booked_setup(world: SagaWorld) -> Context:
    created = _book(world, "key-saga-setup-0001", "2027-01-12T09:00:00+00:00")
    return Context(
        op_id=operation_id(ALICE.uid, REARRANGE_KEY),
        enquiry_id=created["enquiryId"],
        old_appointment=created["appointmentId"],
    )


def _cancel_run(world: SagaWorld, ctx: Context) -> Outcome | None:
    return world.call("cancelBooking", {"enquiryId": ctx.enquiry_id})


def _rearrange_run(world: SagaWorld, ctx: Context) -> Outcome | None:
    return world.call(
        "rearrangeBooking",
        {"idempotencyKey": REARRANGE_KEY, "enquiryId": ctx.enquiry_id, "slot": NEW_SLOT},
    )


def _reconciler_setup(world: SagaWorld) -> Context:
    """Work of every kind for one reconciler run."""
    h = world.harness
    # An operation stuck BOOKED: the instance died once Keyloop's booking was on record.
    world.die_at(
        f"commit update-if-unchanged {OPERATIONS}",
        lambda: world.call("createBooking", booking(key="key-saga-stuck-00001")),
    )
    # An operation stuck IN_PROGRESS: died right after claiming (and taking its enquiry number),
    # before Keyloop.
    world.die_at(
        f"commit-txn update enquiryNumber, create {OPERATIONS}",
        lambda: world.call(
            "createBooking",
            booking(key="key-saga-claimed-0001", slot={"start": "2027-01-12T11:00:00+00:00"}),
        ),
    )
    # A customer's cancel that Keyloop did not confirm: the enquiry CANCELLING, the cancel owed.
    cancelled = _book(world, "key-saga-cancel-00001", "2027-01-12T12:00:00+00:00")
    h.fault("cancel", status=503, count=3)
    assert h.call("cancelBooking", {"enquiryId": cancelled["enquiryId"]}).ok
    # A rearrange whose old appointment could not be cancelled: that cancel owed.
    moved = _book(world, "key-saga-move-000001", "2027-01-12T13:00:00+00:00")
    h.fault("cancel", status=503, count=3)
    data = {"idempotencyKey": "key-saga-move-000002", "enquiryId": moved["enquiryId"]}
    assert h.call("rearrangeBooking", {**data, "slot": {"start": "2027-01-12T15:00:00+00:00"}}).ok
    world.at(30)
    return Context()


def _reconciler_run(world: SagaWorld, ctx: Context) -> Outcome | None:
    # A run that could not read its work says so (ReconcilerIncomplete); the next run redoes it.
    with contextlib.suppress(ProcessDied, ReconcilerIncomplete):
        reconcile(ReconcilerSettings())
    return None


FLOWS = (
    Flow("create", _create_setup, _create_run, _create_run),
    Flow("cancel", _booked_setup, _cancel_run, _cancel_run),
    Flow("rearrange", _booked_setup, _rearrange_run, _rearrange_run),
    Flow("reconciler", _reconciler_setup, _reconciler_run, None),
)
