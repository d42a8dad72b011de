"""Who is calling: a signed-in Firebase user acting for one fleet customer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firebase_functions.https_fn import CallableRequest

from visn.contract.errors import Reason, booking_error


@dataclass(frozen=True)
class Caller:
    uid: str
    customer_id: str


def caller_of(request: CallableRequest[Any]) -> Caller:
    auth = request.auth
    if auth is None or not auth.uid:
        raise booking_error(Reason.UNAUTHENTICATED)
    customer_id = (auth.token or {}).get("customerId")
    if not isinstance(customer_id, str) or not customer_id.strip():
        raise booking_error(Reason.NO_CUSTOMER)
    return Caller(uid=auth.uid, customer_id=customer_id)
