"""The actors the interleaving explorer races two at a time, in one scene.

The scene: a booking E already made (the one cancelBooking, rearrangeBooking and the dealer
act on), and one place left in createBooking's slot (the dealer took the other), so two
creates of different keys contend for it. Each actor runs as its caller would, and hands
back what it was told (`Told`); `truth` checks that against the end state
(tests/saga/invariants.py). An actor's `prepare` is its own work when it is the one paused
(the reconciler's stuck operations, the person's operation nobody knows the outcome of).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from google.cloud.firestore import FieldFilter

from devtools.seed import SERVICE_PRODUCTS
from keyloop import KeyloopError, NewAppointment, Store
from keyloop_sandbox.events import cloud_event
from tests.functions.events_endpoint import EVENTS_SECRET, events_app
from tests.functions.harness import ALICE, Outcome
from tests.functions.test_create_booking import SLOT, booking
from tests.saga import invariants
from tests.saga.invariants import World
from tests.saga.world import CREATE_KEY, NEW_SLOT, REARRANGE_KEY, SagaWorld
from visn.infra import clients
from visn.operator.attention import ResolveError, resolve
from visn.saga.operations import OPERATIONS, operation_id
from visn.saga.reconciler import ReconcilerIncomplete, ReconcilerSettings, RunReport, reconcile
from visn.sync.polling import SyncReport, SyncSettings, sync

OTHER_CREATE_KEY = "key-saga-create-0002"
ELSEWHERE_CREATE_KEY = "key-saga-create-0003"
ELSEWHERE_SLOT = {"start": "2027-01-12T11:00:00+00:00"}
OTHER_REARRANGE_KEY = "key-saga-rearrange-02"
OTHER_SLOT = {"start": "2027-01-13T11:00:00+00:00"}
E_KEY = "key-saga-setup-0001"
E_SLOT = "2027-01-12T09:00:00+00:00"
DEALER_MOVES_TO = "2027-01-12T16:00:00.000Z"
STORE = ("ENT-1001", "STORE-01")


@dataclass
class Scene:
    enquiry_id: str  # E
    appointment_id: str  # E's appointment when the scene began
    ops: dict[str, str] = field(default_factory=dict)  # actor -> its operation id


@dataclass(frozen=True)
class Told:
    """What one actor was told: `text` for the table, the rest for its truth."""

    text: str
    outcome: Outcome | None = None  # a callable's answer
    status: int | None = None  # keyloopEvents' HTTP answer
    report: RunReport | SyncReport | None = None
    resolutions: tuple[tuple[str, str], ...] = ()  # (operation id, status after, or REFUSED)
    dealer: str | None = None  # the appointment the dealer changed


def _callable_told(outcome: Outcome | None) -> Told:
    if outcome is None:
        return Told("(died)")
    text = f"ok {outcome.result.get('status', '')}".strip() if outcome.ok else str(outcome.reason)
    return Told(text, outcome=outcome)


def scene(world: SagaWorld) -> Scene:
    h = world.harness
    created = h.call("createBooking", booking(key=E_KEY, slot={"start": E_SLOT})).result
    # The dealer takes one of the create slot's two places in the DMS itself.
    dealer_books(SLOT["start"], "dealer-walk-in")
    return Scene(created["enquiryId"], created["appointmentId"])


def dealer_books(start: str, reference: str) -> bool:
    """Someone at the dealership books the slot in the DMS itself; False when it is full."""
    new = NewAppointment(
        external_reference=reference,
        due_in=datetime.fromisoformat(start),
        due_out=None,
        service_product_ids=(SERVICE_PRODUCTS["MOT"],),
        given_name="Walk",
        family_name="In",
        license_plate="XX00 XXX",
    )
    try:
        clients.keyloop_client().create_appointment(Store(*STORE), new)
    except KeyloopError:
        return False
    return True


# -- the callables -------------------------------------------------------------------------


def _create(key: str, slot: dict[str, str] = SLOT) -> Callable[[SagaWorld, Scene], Told]:
    def run(world: SagaWorld, scene: Scene) -> Told:
        return _callable_told(world.call("createBooking", booking(key=key, slot=slot)))

    return run


def _rearrange(key: str, slot: dict[str, str]) -> Callable[[SagaWorld, Scene], Told]:
    def run(world: SagaWorld, scene: Scene) -> Told:
        data = {"idempotencyKey": key, "enquiryId": scene.enquiry_id, "slot": slot}
        return _callable_told(world.call("rearrangeBooking", data))

    return run


def _cancel(world: SagaWorld, scene: Scene) -> Told:
    return _callable_told(world.call("cancelBooking", {"enquiryId": scene.enquiry_id}))


def _cancel_meeting_409(world: SagaWorld, scene: Scene) -> Told:
    """A second cancel (a double click) whose DELETE, of an appointment the DMS has already
    cancelled, meets the 409 the review saw from Keyloop while a cancel is being processed
    (the sandbox itself answers 404 there). As the paused actor, it looks at its start."""
    h = world.harness
    gone = {a["appointmentId"] for a in h.appointments("CANCELLED")}
    if scene.appointment_id in gone:
        h.fault("cancel", status=409, body={"code": "APPOINTMENT_CANCELLATION_IN_PROGRESS"})
    try:
        return _cancel(world, scene)
    finally:
        h.http.delete(f"{h.sandbox.url}/_sandbox/faults", timeout=5).raise_for_status()


def _callable_truth(flow: str, key: str | None) -> Callable[[World, Scene, Told], list[str]]:
    def truth(end: World, scene: Scene, told: Told) -> list[str]:
        return invariants.told_truth(
            end,
            flow,
            told.outcome,
            op_id=operation_id(ALICE.uid, key) if key else None,
            enquiry_id=None if flow == "create" else scene.enquiry_id,
            old_appointment=None if flow == "create" else scene.appointment_id,
            others=True,
        )

    return truth


# -- the reconciler --------------------------------------------------------------------------


def _reconciler_work(world: SagaWorld, scene: Scene) -> None:
    """Its work when paused: createBooking's key stuck BOOKED (the instance died once
    Keyloop's booking was on record), and E's cancel owed (Keyloop did not confirm it)."""
    world.die_at(
        f"commit update-if-unchanged {OPERATIONS}",
        lambda: world.call("createBooking", booking(key=CREATE_KEY)),
    )
    world.harness.fault("cancel", status=503, count=3)
    assert world.harness.call("cancelBooking", {"enquiryId": scene.enquiry_id}).ok


def _reconciler(world: SagaWorld, scene: Scene) -> Told:
    world.at(world.minutes + 180)  # past every threshold: what a live saga must survive
    try:
        report = reconcile(ReconcilerSettings())
    except ReconcilerIncomplete as exc:
        return Told("incomplete", report=exc.report)
    busy = {k: v for k, v in report.as_dict().items() if v and k != "runId"}
    return Told(",".join(f"{k}:{v}" for k, v in busy.items()) or "quiet", report=report)


def _reconciler_truth(end: World, scene: Scene, told: Told) -> list[str]:
    """Every appointment it cancelled is one nobody holds."""
    if not isinstance(told.report, RunReport):
        return []
    found = []
    for record_id in told.report.cancelled:
        appointment = end.compensations.get(record_id, {}).get("appointmentId")
        if appointment and end.enquiries_on(appointment, frozenset({"BOOKED"})):
            found.append(f"the reconciler cancelled {appointment}, which a BOOKED enquiry holds")
    return found


# -- the dealer, through keyloopEvents or the polling sync -----------------------------------


def _e_live(world: SagaWorld, scene: Scene) -> str | None:
    """E's appointment live in the DMS now (E's own, or the one a rearrange moved it to),
    read from the dealer's diary, not through our code."""
    mine = {operation_id(ALICE.uid, k) for k in (E_KEY, REARRANGE_KEY, OTHER_REARRANGE_KEY)}
    live = [
        a["appointmentId"]
        for a in world.harness.appointments("BOOKED")
        if a.get("externalReference") in mine
    ]
    return live[-1] if live else None


def _dealer(world: SagaWorld, scene: Scene, action: str) -> str | None:
    appointment = _e_live(world, scene)
    if appointment is None:
        return None
    body = {"dueInDateTime": DEALER_MOVES_TO} if action == "move" else {}
    response = world.harness.http.post(
        f"{world.harness.sandbox.url}/_sandbox/appointments/{appointment}/{action}",
        json=body,
        timeout=5,
    )
    return appointment if response.ok else None


def _event(action: str) -> Callable[[SagaWorld, Scene], Told]:
    """The dealer changes E's appointment; Keyloop's event about it reaches keyloopEvents
    (the sandbox's own CloudEvent, handed to main.keyloopEvents on this thread)."""

    def run(world: SagaWorld, scene: Scene) -> Told:
        changed = _dealer(world, scene, action)
        if changed is None:
            return Told("(dealer could not)")
        change = "updated" if action == "move" else "cancelled"
        event = cloud_event(change, changed, *STORE, True)
        with events_app().test_client() as client:
            response = client.post(
                "/keyloopEvents",
                data=json.dumps(event),
                headers={
                    "Content-Type": "application/cloudevents+json",
                    "x-api-key": EVENTS_SECRET,
                },
            )
        return Told(str(response.status_code), status=response.status_code, dealer=changed)

    return run


def _sync(world: SagaWorld, scene: Scene) -> Told:
    """The dealer moves E's appointment and no event comes: the polling sync finds it."""
    changed = _dealer(world, scene, "move")
    before = len(world.harness.upstream_requests())
    report = sync(SyncSettings(force=True))
    outcomes = ",".join(f"{k}:{v}" for k, v in sorted(report.outcomes.items())) or "none"
    # It answers for what it looked at: the changed appointment only if it read that one (a
    # rearrange in flight may have made it, not yet on the enquiry the sync looked at).
    looked = any(
        r["endpoint"] == "repairOrder" and changed is not None and changed in r["path"]
        for r in world.harness.upstream_requests()[before:]
    )
    return Told(f"sync {outcomes}", report=report, dealer=changed if looked else None)


def _dealer_truth(end: World, scene: Scene, told: Told) -> list[str]:
    """keyloopEvents answered 2xx, or the sync looked: the change is applied (or already was)
    on the enquiry still on that appointment."""
    answered = told.status is not None and 200 <= told.status < 300
    looked = isinstance(told.report, SyncReport) and not told.report.failed
    if told.dealer is None or not (answered or looked):
        return []
    return invariants.dms_applied(end, told.dealer, f"{told.text} after the dealer's change")


# -- the person ------------------------------------------------------------------------------


def _resolve_work(world: SagaWorld, scene: Scene) -> None:
    """Its work when paused: createBooking's key OUTCOME_UNKNOWN (booked; the answer lost)."""
    world.harness.fault("create", status=504, process=True)
    assert world.harness.call("createBooking", booking(key=CREATE_KEY)).reason == (
        "DMS_OUTCOME_UNKNOWN"
    )


def _resolve(world: SagaWorld, scene: Scene) -> Told:
    """`operations resolve` of every operation not settled that the command accepts, from
    what the dealer's diary holds (a person looking at one that seems stuck)."""
    client = clients.firestore_client()
    query = client.collection(OPERATIONS).where(
        filter=FieldFilter("status", "in", ["OUTCOME_UNKNOWN", "IN_PROGRESS"])
    )
    done: list[tuple[str, str]] = []
    for snapshot in list(query.stream()):
        found = [
            a["appointmentId"]
            for a in world.harness.appointments("BOOKED")
            if a.get("externalReference") == snapshot.id
        ]
        try:
            resolution = resolve(client, snapshot.id, booked=found[0] if found else None)
            done.append((snapshot.id, resolution.status))
        except ResolveError:
            done.append((snapshot.id, "REFUSED"))
    text = ",".join(status for _, status in done) or "nothing"
    return Told(f"resolved {text}", resolutions=tuple(done))


def _resolve_truth(end: World, scene: Scene, told: Told) -> list[str]:
    return [p for op_id, said in told.resolutions for p in invariants.resolved(end, op_id, said)]


# -- the cast --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    name: str
    run: Callable[[SagaWorld, Scene], Told]
    truth: Callable[[World, Scene, Told], list[str]]
    prepare: Callable[[SagaWorld, Scene], None] = lambda world, scene: None
    dealer: bool = False  # changes the DMS behind our back: the polling sync is the net


ACTORS = {
    a.name: a
    for a in (
        Actor("create", _create(CREATE_KEY), _callable_truth("create", CREATE_KEY)),
        Actor(
            "create-other", _create(OTHER_CREATE_KEY), _callable_truth("create", OTHER_CREATE_KEY)
        ),
        # Another customer's booking elsewhere: it contends for nothing but the numbering.
        Actor(
            "create-elsewhere",
            _create(ELSEWHERE_CREATE_KEY, ELSEWHERE_SLOT),
            _callable_truth("create", ELSEWHERE_CREATE_KEY),
        ),
        Actor(
            "rearrange",
            _rearrange(REARRANGE_KEY, NEW_SLOT),
            _callable_truth("rearrange", REARRANGE_KEY),
        ),
        Actor(
            "rearrange-other",
            _rearrange(OTHER_REARRANGE_KEY, OTHER_SLOT),
            _callable_truth("rearrange", OTHER_REARRANGE_KEY),
        ),
        Actor("cancel", _cancel, _callable_truth("cancel", None)),
        Actor("cancel-409", _cancel_meeting_409, _callable_truth("cancel", None)),
        Actor("reconciler", _reconciler, _reconciler_truth, prepare=_reconciler_work),
        Actor("event-move", _event("move"), _dealer_truth, dealer=True),
        Actor("event-cancel", _event("cancel"), _dealer_truth, dealer=True),
        Actor("sync", _sync, _dealer_truth, dealer=True),
        Actor("resolve", _resolve, _resolve_truth, prepare=_resolve_work),
    )
}
