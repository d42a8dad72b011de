"""Keyloop calls made on behalf of the booking saga, with their compensations."""

from __future__ import annotations

from typing import Any

from google.cloud.firestore import Client

from keyloop import KeyloopError, Store
from visn.infra.clients import keyloop_client
from visn.records import dms_view
from visn.records.dms_view import DmsState
from visn.saga import compensations, operations
from visn.saga.operations import Held, OpStatus


def cancel_or_record(
    client: Client,
    store: Store,
    appointment_id: str,
    *,
    supplier_id: str,
    operation_id: str,
    why: str,
) -> bool:
    """Cancel an appointment we owe a cancel for; if Keyloop fails, keep it on record.

    True when cancelled now. Otherwise a compensation record (or, if Firestore fails too, an
    ERROR log) names the appointment for the reconciler and for people.
    """
    try:
        keyloop_client().cancel_appointment(store, appointment_id)
        return True
    except KeyloopError as exc:
        saved = compensations.save(
            client,
            store,
            appointment_id,
            supplier_id=supplier_id,
            operation_id=operation_id,
            why=why,
            error=exc,
        )
        if saved:
            compensations.log_cancel_owed(
                _summary(store, appointment_id, supplier_id, operation_id, why), durable=True
            )
        return False


def undo_booking(
    client: Client,
    store: Store,
    appointment_id: str,
    *,
    held: Held,
    supplier_id: str,
    why: str,
) -> None:
    """Take back an appointment we made but could not save: cancel it (or keep it on record),
    then settle the operation, conditional on the version held: COMPENSATED (the key may be
    tried again, its number abandoned) or COMPENSATING (the reconciler owes the cancel).
    Settling is retried once, then logged: Firestore may be what failed."""
    cancelled = cancel_or_record(
        client,
        store,
        appointment_id,
        supplier_id=supplier_id,
        operation_id=held.op_id,
        why=why,
    )
    status = OpStatus.COMPENSATED if cancelled else OpStatus.COMPENSATING
    operations.settle(client, held, status, appointmentId=appointment_id)


def _summary(
    store: Store, appointment_id: str, supplier_id: str, operation_id: str, why: str
) -> dict[str, Any]:
    return {
        "appointmentId": appointment_id,
        "supplierId": supplier_id,
        "operationId": operation_id,
        "enterpriseId": store.enterprise_id,
        "storeId": store.store_id,
        "why": why,
    }


def cancelled_in_dms(store: Store, appointment_id: str) -> bool:
    """Read the appointment back (its repair order): gone, or cancelled. Raises KeyloopError
    when the DMS cannot say."""
    return dms_view.look(store, appointment_id).state is DmsState.CANCELLED
