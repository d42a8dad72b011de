"""The saga's promises, written once: checked after every explored fault and every model step.

A `World` is one read of both sides (the sandbox's appointments, our Firestore documents).
`violations(world, settled=...)` lists every broken promise in words; `told_truth` checks what
one caller was told against the end state. Collections are named by the modules that own them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tests.functions.enquiry_invariant import number_problems
from tests.functions.harness import Harness, Outcome
from visn.records.enquiries import ENQUIRIES
from visn.saga.compensations import COMPENSATIONS
from visn.saga.operations import OPERATIONS

# Operation states the reconciler must have left behind once it has run past every threshold.
UNSETTLED_OPERATIONS = frozenset({"IN_PROGRESS", "BOOKED", "COMPENSATING"})
OWED = frozenset({"PENDING", "NEEDS_ATTENTION"})


@dataclass(frozen=True)
class World:
    appointments: dict[str, dict[str, Any]]  # the sandbox's, by appointment id
    enquiries: dict[str, dict[str, Any]]
    operations: dict[str, dict[str, Any]]
    compensations: dict[str, dict[str, Any]]
    numbering: tuple[str, ...] = ()  # enquiry-number problems (tests.functions.enquiry_invariant)
    numbering_open: tuple[str, ...] = ()  # the same, numbers held by open operations allowed

    @classmethod
    def read(cls, harness: Harness) -> World:
        return cls(
            appointments={a["appointmentId"]: a for a in harness.appointments()},
            enquiries=harness.docs(ENQUIRIES),
            operations=harness.docs(OPERATIONS),
            compensations=harness.docs(COMPENSATIONS),
            numbering=tuple(number_problems(harness.db)),
            numbering_open=tuple(number_problems(harness.db, held_ok=True)),
        )

    def live(self) -> dict[str, dict[str, Any]]:
        """Live appointments we made (the dealer's own bookings are not ours to keep)."""
        return {
            i: a
            for i, a in self.appointments.items()
            if a["status"] == "BOOKED" and a.get("externalReference") in self.operations
        }

    def live_for_operation(self, op_id: str) -> list[str]:
        return [i for i, a in self.live().items() if a.get("externalReference") == op_id]

    def owed(self, appointment_id: str) -> bool:
        return any(
            c.get("appointmentId") == appointment_id and c.get("status") in OWED
            for c in self.compensations.values()
        )

    def enquiries_on(self, appointment_id: str, statuses: frozenset[str]) -> list[str]:
        return [
            i
            for i, e in self.enquiries.items()
            if e.get("dms", {}).get("appointmentId") == appointment_id
            and e.get("status") in statuses
        ]


def violations(world: World, *, settled: bool, person_done: bool = False) -> list[str]:
    """Broken promises. `settled`: the reconciler has run past every threshold. `person_done`:
    a person has also resolved every OUTCOME_UNKNOWN (nothing may be left for one)."""
    found = _appointments_held(world, settled=settled, person_done=person_done)
    found += _enquiries_live(world)
    # Unique numbers; every number drawn is on an enquiry or abandoned, or (until a person has
    # settled what is theirs) held by an operation still open.
    found += list(world.numbering if person_done else world.numbering_open)
    if settled:
        found += _nothing_left(world, person_done=person_done)
    return found


def _appointments_held(world: World, *, settled: bool, person_done: bool) -> list[str]:
    """Every live appointment of ours: on exactly one BOOKED enquiry, or a cancel owed."""
    found: list[str] = []
    for appointment_id, appointment in world.live().items():
        op = world.operations.get(appointment.get("externalReference") or "", {})
        holders = world.enquiries_on(appointment_id, frozenset({"BOOKED", "CANCELLING"}))
        if len(holders) > 1:
            found.append(f"appointment {appointment_id} held by {len(holders)} enquiries")
        booked = world.enquiries_on(appointment_id, frozenset({"BOOKED"}))
        in_hand = not settled and (holders or op.get("status") in UNSETTLED_OPERATIONS)
        for_a_person = not person_done and op.get("status") == "OUTCOME_UNKNOWN"
        if len(booked) == 1 or world.owed(appointment_id) or in_hand or for_a_person:
            continue
        found.append(
            f"live appointment {appointment_id} (op status {op.get('status')}) is on no BOOKED "
            "enquiry and no owed cancel"
        )
    references = Counter(a.get("externalReference") for a in world.live().values())
    found += [f"operation {op} has {n} live appointments" for op, n in references.items() if n > 1]
    return found


def _enquiries_live(world: World) -> list[str]:
    """Every BOOKED enquiry: on a live appointment, at the time the DMS has for it."""
    found: list[str] = []
    for enquiry_id, enquiry in world.enquiries.items():
        if enquiry.get("status") != "BOOKED":
            continue
        appointment = world.appointments.get(enquiry.get("dms", {}).get("appointmentId") or "")
        if appointment is None or appointment["status"] != "BOOKED":
            found.append(f"BOOKED enquiry {enquiry_id} points at a dead appointment")
        # (The scenarios book a store whose DMS means real UTC by "Z".)
        elif not _same_instant(appointment["dueInDateTime"], enquiry["slot"]["start"]):
            found.append(f"BOOKED enquiry {enquiry_id} is not at the DMS's time")
    return found


def _nothing_left(world: World, *, person_done: bool) -> list[str]:
    """After the reconciler: no operation in flight, every owed cancel done or a person's."""
    found = [
        f"operation {op_id} left {op.get('status')}"
        for op_id, op in world.operations.items()
        if op.get("status") in UNSETTLED_OPERATIONS
        or (person_done and op.get("status") == "OUTCOME_UNKNOWN")
    ]
    for record_id, record in world.compensations.items():
        if record.get("status") not in ("DONE", "NEEDS_ATTENTION"):
            found.append(f"owed cancel {record_id} left {record.get('status')}")
        elif record.get("status") == "DONE" and not record.get("settled"):
            found.append(f"owed cancel {record_id} done but not settled")
    found += [
        f"enquiry {enquiry_id} left CANCELLING"
        for enquiry_id, enquiry in world.enquiries.items()
        if enquiry.get("status") == "CANCELLING"
    ]
    return found


def told_truth(
    world: World,
    flow: str,
    outcome: Outcome | None,
    *,
    op_id: str | None,
    enquiry_id: str | None,
    old_appointment: str | None,
    others: bool = False,
) -> list[str]:
    """What the caller was told, against the settled end state. `others`: another actor ran
    at the same time, so a success may since have been superseded by a later change that the
    enquiry's history shows, and a failed cancel may meet an enquiry another actor cancelled."""
    if outcome is None:
        return []  # the process died: nobody was told anything
    reason = None if outcome.ok else outcome.reason
    found: list[str] = []
    op = world.operations.get(op_id or "", {}) if op_id else {}
    if op.get("status") == "OUTCOME_UNKNOWN" and reason != "DMS_OUTCOME_UNKNOWN":
        found.append(f"{flow} said {reason or 'ok'}, yet its key was left for a person")
    enquiry = world.enquiries.get(enquiry_id or "") if enquiry_id else None
    if flow == "cancel":
        return found + _cancel_told(world, outcome, enquiry, old_appointment, others=others)
    if outcome.ok:
        result = outcome.result
        made = world.enquiries.get(result["enquiryId"]) or {}
        if others and superseded(made, result["appointmentId"]):
            return found
        if made.get("status") != "BOOKED":
            found.append(f"{flow} said booked, but the enquiry is not BOOKED")
        elif made["dms"]["appointmentId"] != result["appointmentId"]:
            found.append(f"{flow} said booked, but the enquiry is on another appointment")
        if "enquiryNumber" in result and made.get("enquiryNumber") != result["enquiryNumber"]:
            found.append(
                f"{flow} said enquiry number {result['enquiryNumber']}, the enquiry has another"
            )
        if result["appointmentId"] not in world.live():
            found.append(f"{flow} said booked, but its appointment is not live")
        return found
    # DMS_OUTCOME_UNKNOWN: the one answer that may leave a question (on record for a person).
    # IN_PROGRESS beside another actor: another attempt under the same key is booking.
    if reason == "DMS_OUTCOME_UNKNOWN" or (others and reason == "IN_PROGRESS"):
        return found
    ours = world.live_for_operation(op_id) if op_id else []
    if ours:
        found.append(f"{flow} said {reason}, yet it left a live appointment {ours}")
    if flow == "rearrange" and _moved(world, enquiry, op_id, old_appointment, others=others):
        found.append(f"rearrange said {reason}, but the enquiry moved")
    return found


def _moved(
    world: World,
    enquiry: dict[str, Any] | None,
    op_id: str | None,
    old_appointment: str | None,
    *,
    others: bool,
) -> bool:
    """Whether the enquiry moved; with `others`, onto an appointment this operation made
    (another actor may have moved it)."""
    if enquiry is None:
        return True
    if not others:
        return bool(enquiry.get("dms", {}).get("appointmentId") != old_appointment)
    return any(
        world.appointments.get(entry.get("appointmentId") or "", {}).get("externalReference")
        == op_id
        for entry in enquiry.get("history", [])
        if entry.get("action") == "REARRANGED"
    )


def _cancel_told(
    world: World,
    outcome: Outcome,
    enquiry: dict[str, Any] | None,
    appointment: str | None,
    *,
    others: bool,
) -> list[str]:
    status = enquiry.get("status") if enquiry else None
    if outcome.ok:
        told = outcome.result["status"]
        found = [] if status == "CANCELLED" else [f"cancel said {told}, enquiry ended {status}"]
        if appointment in world.live():
            found.append(f"cancel said {told}, but the appointment is live")
        last = (enquiry or {}).get("dms", {}).get("appointmentId")
        if last != appointment and last in world.live():
            found.append(f"cancel said {told}, but the enquiry's appointment is live")
        return found
    if others and status == "CANCELLED":
        return []  # another actor (a second cancel, the dealer) cancelled it
    if status != "BOOKED":
        return [f"cancel said {outcome.reason}, but the enquiry ended {status}"]
    return []


# History entries after which an appointment an earlier caller was told of is no longer the
# enquiry's: a later move, a cancel (ours or the dealer's), the work done.
_SUPERSEDING = frozenset({"REARRANGED", "CANCELLED", "CANCELLED_IN_DMS", "COMPLETED_IN_DMS"})


def superseded(enquiry: dict[str, Any], appointment_id: str) -> bool:
    """The enquiry was booked on `appointment_id`, and a later change took it off it."""
    history = enquiry.get("history", [])
    booked_at = [
        i
        for i, entry in enumerate(history)
        if entry.get("action") in ("BOOKED", "REARRANGED")
        and entry.get("appointmentId") == appointment_id
    ]
    return bool(booked_at) and any(
        entry.get("action") in _SUPERSEDING for entry in history[booked_at[-1] + 1 :]
    )


def dms_applied(world: World, appointment_id: str, told: str) -> list[str]:
    """A change the DMS made to `appointment_id`, said to be applied: every BOOKED enquiry
    still on that appointment agrees with the DMS (live, at its time)."""
    found: list[str] = []
    appointment = world.appointments.get(appointment_id)
    for enquiry_id in world.enquiries_on(appointment_id, frozenset({"BOOKED"})):
        enquiry = world.enquiries[enquiry_id]
        if appointment is None or appointment["status"] != "BOOKED":
            found.append(f"{told}: enquiry {enquiry_id} is BOOKED on a dead appointment")
        elif not _same_instant(appointment["dueInDateTime"], enquiry["slot"]["start"]):
            found.append(f"{told}: enquiry {enquiry_id} is not at the DMS's time")
    return found


def resolved(world: World, op_id: str, status: str) -> list[str]:
    """What `operations resolve` said it did, against the end state."""
    op = world.operations.get(op_id, {})
    live = world.live_for_operation(op_id)
    if status == "COMPLETED":
        appointment = (op.get("result") or {}).get("appointmentId")
        enquiry = world.enquiries.get(op.get("enquiryId") or "", {})
        kept = (
            op.get("status") == "COMPLETED"
            and appointment in live
            and enquiry.get("status") == "BOOKED"
            and enquiry.get("dms", {}).get("appointmentId") == appointment
        )
        return [] if kept else [f"resolve said kept, but op ended {op.get('status')}, live {live}"]
    if op.get("status") == "COMPLETED":  # a retry of the key, free again, booked anew
        live = [a for a in live if a != (op.get("result") or {}).get("appointmentId")]
    if status in ("FAILED", "COMPENSATING") and live:
        return [f"resolve said {status}, yet the operation has a live appointment {live}"]
    return []


def _same_instant(left: str, right: str) -> bool:
    return _instant(left) == _instant(right)


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
