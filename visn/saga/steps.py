"""Steps shared by createBooking and rearrangeBooking: what Keyloop is sent, the create
itself (`create_appointment`, the Keyloop call alone, and `book`, which settles the operation
from its outcome), the slot answered, and the checks that a stored result must be replayed
before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

from firebase_functions import logger
from firebase_functions.https_fn import HttpsError
from google.cloud.firestore import Client

from keyloop import Address, Appointment, KeyloopClient, KeyloopError, NewAppointment, Store
from visn.availability import cache as availability_cache
from visn.contract.caller import Caller
from visn.contract.errors import FieldError, Reason, booking_error, reason_for_keyloop
from visn.contract.schemas import SlotRequest
from visn.contract.slots import iso
from visn.infra import clock, db
from visn.infra.clients import keyloop_client
from visn.records import enquiry_numbers
from visn.records.suppliers import Supplier
from visn.saga import operations
from visn.saga.dms import cancel_or_record, undo_booking
from visn.saga.operations import Held, OpStatus, Replay

AUDIT_USER_NAME = "ViSN"
# A stable message an alert can match (docs/operations.md).
OUTCOME_UNKNOWN_MESSAGE = (
    "KEYLOOP_OUTCOME_UNKNOWN: a create may have booked; check the dealer's diary"
)

T = TypeVar("T")


def replay_first(
    client: Client, caller: Caller, idempotency_key: str, request_hash: str, check: Callable[[], T]
) -> T | Replay:
    """Run checks that depend on time or supplier config; if they refuse, a completed
    operation for this very request still answers its stored result (a replay must not
    fail because the slot has since passed or the config changed). The read is only paid
    when a check refuses."""
    try:
        return check()
    except HttpsError:
        done = operations.completed_result(client, caller.uid, idempotency_key, request_hash)
        if done is not None:
            return Replay(done)
        raise


def require_future(slot: SlotRequest) -> None:
    if slot.start <= clock.now():
        raise booking_error(
            Reason.VALIDATION, fields=[FieldError("slot.start", "must be in the future")]
        )


@dataclass(frozen=True)
class CreateFailed:
    """A create that did not return an appointment: what the operation must be settled with."""

    status: OpStatus  # FAILED: nothing can have been booked; OUTCOME_UNKNOWN: it may have been
    reason: Reason
    error: Exception


def create_appointment(store: Store, op_id: str, new: NewAppointment) -> Appointment | CreateFailed:
    """The Keyloop create alone: the appointment, or what its failure means for the operation
    (never raises for a Keyloop or client set-up failure; writes nothing)."""
    try:
        keyloop: KeyloopClient = keyloop_client()
    except Exception as exc:
        # Nothing was sent: the client could not even be built.
        return CreateFailed(OpStatus.FAILED, Reason.INTERNAL, exc)
    try:
        return keyloop.create_appointment(store, new)
    except KeyloopError as exc:
        reason = reason_for_keyloop(exc)
        unknown = reason is Reason.DMS_OUTCOME_UNKNOWN
        if unknown:
            logger.error(
                OUTCOME_UNKNOWN_MESSAGE,
                operationId=op_id,
                enterpriseId=store.enterprise_id,
                storeId=store.store_id,
                correlationId=exc.correlation_id,
                status=exc.status,
            )
        return CreateFailed(OpStatus.OUTCOME_UNKNOWN if unknown else OpStatus.FAILED, reason, exc)


def book(
    client: Client, store: Store, held: Held, new: NewAppointment, zone: ZoneInfo
) -> Appointment:
    """Create in Keyloop (`create_appointment`). On failure the operation is settled with what
    is known: FAILED when nothing can have been booked (the key may be retried; its number
    abandoned), OUTCOME_UNKNOWN when Keyloop may have booked (a person checks). A slot Keyloop
    says is taken drops that day (in the supplier's `zone`) from the availability cache: it
    showed the slot free."""
    created = create_appointment(store, held.op_id, new)
    if not isinstance(created, CreateFailed):
        return created
    operations.settle(client, held, created.status, error={"reason": created.reason.value})
    if created.reason is Reason.SLOT_UNAVAILABLE:
        availability_cache.invalidate_now(client, store, [new.due_in.astimezone(zone).date()])
    if isinstance(created.error, KeyloopError):
        raise booking_error(created.reason) from created.error
    raise created.error  # a client that could not be built: as unexpected as before


@contextmanager
def numbering_errors() -> Iterator[None]:
    """Around a claim that takes the enquiry number: no number to be had in time (contention,
    a slow Firestore) is retryable, a missing counter a set-up error. Either way nothing was
    claimed, taken or booked."""
    try:
        yield
    except enquiry_numbers.CounterMissingError as exc:
        logger.error("ENQUIRY_COUNTER_MISSING: no enquiry number can be taken", cause=str(exc))
        raise booking_error(Reason.INTERNAL) from exc
    except enquiry_numbers.CounterBusyError as exc:
        logger.warn("no enquiry number taken in time: nothing booked", cause=str(exc))
        raise booking_error(Reason.DATABASE_UNAVAILABLE) from exc


class Closing(StrEnum):
    """What a closing write that raised left behind."""

    SAVED = "SAVED"  # applied, its answer lost: the booking stands
    NOT_SAVED = "NOT_SAVED"  # not applied, the operation still ours: undo our appointment
    LOST = "LOST"  # the operation moved on: another writer owns it (and its appointment)
    UNKNOWN = "UNKNOWN"  # cannot tell: nothing is undone, the reconciler settles it


def after_closing_write(client: Client, held: Held, appointment_id: str) -> Closing:
    """Read the operation back after the closing write (enquiry + operation COMPLETED)
    raised. The write is atomic, so the operation answers for both."""
    try:
        snapshot = operations.ref(client, held.op_id).get(**db.call_options())
    except Exception:
        return Closing.UNKNOWN
    data = snapshot.to_dict() if snapshot.exists else None
    if data is None:
        return Closing.LOST
    result = data.get("result") or {}
    if (
        data.get("status") == OpStatus.COMPLETED
        and data.get("attemptId") == held.attempt_id
        and result.get("appointmentId") == appointment_id
    ):
        return Closing.SAVED
    return Closing.NOT_SAVED if snapshot.update_time == held.update_time else Closing.LOST


def unknown_save(held: Held, appointment_id: str, cause: Exception) -> HttpsError:
    """When even the read-back fails, the appointment must not be cancelled (it may be saved):
    DMS_OUTCOME_UNKNOWN, and the operation, BOOKED with its appointment, lets the reconciler
    settle it."""
    logger.warn(
        "save unconfirmed: left for the reconciler",
        operationId=held.op_id,
        appointmentId=appointment_id,
        cause=type(cause).__name__,
    )
    return booking_error(Reason.DMS_OUTCOME_UNKNOWN)


def disown(
    client: Client,
    store: Store,
    held: Held,
    appointment_id: str,
    *,
    supplier_id: str,
    why: str,
) -> dict[str, Any] | None:
    """Our appointment, on an operation another writer has moved on: read it again and decide
    again. A person who resolved it keeping this very appointment made it the booking: its
    result is the answer (returned). One who has it on record (the reconciler, owing its
    cancel) owns it. Anyone else decided without knowing of it: cancel it, or keep its cancel
    owed on record (returns None; nothing is booked for the caller). A cancel sent twice meets
    Keyloop's own 404, which counts as done."""
    try:
        current = operations.read(client, held.op_id)
    except Exception:
        current = None  # cannot tell: never leave an appointment that nothing tracks
    if current is not None:
        result = current.get("result") or {}
        if current.get("status") == OpStatus.COMPLETED and result.get("appointmentId") == (
            appointment_id
        ):
            return dict(result)
        if current.get("appointmentId") == appointment_id:
            return None
    logger.warn(
        "operation decided by another writer: undoing our appointment",
        operationId=held.op_id,
        appointmentId=appointment_id,
        supplierId=supplier_id,
    )
    cancel_or_record(
        client, store, appointment_id, supplier_id=supplier_id, operation_id=held.op_id, why=why
    )
    return None


@dataclass(frozen=True)
class Undo:
    """Taking back the appointment this call made when its booking (or move) cannot be saved:
    shared by createBooking and rearrangeBooking, which differ only in the owed cancel's `why`
    and in the error they answer (`refusal(cause)`, cause None when another writer won)."""

    client: Client
    store: Store
    supplier_id: str
    appointment_id: str
    why: str
    refusal: Callable[[Exception | None], HttpsError]

    def compensate(self, held: Held, cause: Exception) -> NoReturn:
        """The operation is still ours: cancel (or owe) and settle it COMPENSATED(ING)."""
        logger.warn(
            "booking not saved after Keyloop booked: cancelling the appointment",
            operationId=held.op_id,
            appointmentId=self.appointment_id,
            supplierId=self.supplier_id,
            cause=type(cause).__name__,
        )
        undo_booking(
            self.client,
            self.store,
            self.appointment_id,
            held=held,
            supplier_id=self.supplier_id,
            why=self.why,
        )
        raise self.refusal(cause) from cause

    def disown(self, held: Held, cause: Exception) -> dict[str, Any]:
        """Another writer took the operation: what it kept (its result), or our appointment
        cancelled or owed and the refusal."""
        kept = disown(
            self.client,
            self.store,
            held,
            self.appointment_id,
            supplier_id=self.supplier_id,
            why="OPERATION_TAKEN_OVER",
        )
        if kept is not None:
            return kept
        raise self.refusal(None) from cause


def result_slot(appointment: Appointment, slot: SlotRequest, supplier: Supplier) -> dict[str, Any]:
    start = appointment.due_in or slot.start
    end = appointment.due_out or slot.end
    zone = supplier.timezone
    return {"start": iso(start, zone), "end": iso(end, zone) if end else None}


def requested_slot(slot: SlotRequest, supplier: Supplier) -> dict[str, Any]:
    """The slot as asked for, in the supplier's zone (kept on the operation for a person)."""
    zone = supplier.timezone
    return {"start": iso(slot.start, zone), "end": iso(slot.end, zone) if slot.end else None}


def appointment_request(
    caller: Caller,
    booking: Mapping[str, Any],
    slot: SlotRequest,
    op_id: str,
    products: list[str],
    option: str | None,
) -> NewAppointment:
    """What Keyloop is sent, from a booking's details as the enquiry stores them (the request
    model's JSON form): a create and a rearrange send the same thing."""
    contact = booking.get("contact") or {}
    vehicle = booking.get("vehicle") or {}
    mileage = vehicle.get("mileage") or {}
    raw_address = booking.get("collectionAddress")
    address = (
        Address(
            line1=raw_address["line1"],
            line2=raw_address.get("line2"),
            city=raw_address["city"],
            postal_code=raw_address["postalCode"],
        )
        if raw_address
        else None
    )
    return NewAppointment(
        external_reference=op_id,
        due_in=slot.start,
        due_out=slot.end,
        service_product_ids=tuple(products),
        given_name=contact.get("givenName", ""),
        family_name=contact.get("familyName", ""),
        email=contact.get("email"),
        mobile=contact.get("phone"),
        license_plate=vehicle.get("registration", ""),
        vin=vehicle.get("vin"),
        vehicle_description=vehicle.get("description"),
        mileage_value=mileage.get("value"),
        mileage_unit=mileage.get("unit"),
        customer_notes=booking.get("notes"),
        appointment_option_id=option,
        collect_address=address,
        delivery_address=address,  # collection and delivery: back to where it was collected
        audit_user_id=caller.uid,
        audit_user_name=AUDIT_USER_NAME,
    )
