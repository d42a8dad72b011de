"""Keyloop's wire forms: path segments, the create request's body, JSON and token answers."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import requests

from .errors import KeyloopBadResponseError, KeyloopInvalidRequestError
from .models import Address, NewAppointment, Store
from .times import format_time, parse_time
from .token import AccessToken

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_TOKEN_TYPES = frozenset({"bearertoken", "bearer"})


def path_segment(value: str) -> str:
    """A path segment: validated, then percent-encoded anyway (defence in depth)."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value) or ".." in value:
        raise KeyloopInvalidRequestError("invalid Keyloop identifier")
    return quote(value, safe="")


def json_body(response: requests.Response, operation: str, cid: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise KeyloopBadResponseError(
            f"keyloop {operation}: response is not JSON",
            status=response.status_code,
            correlation_id=cid,
        ) from None


def parse_token(response: requests.Response, cid: str, sent_at: float) -> AccessToken:
    payload = json_body(response, "token", cid)

    def bad(what: str) -> KeyloopBadResponseError:
        return KeyloopBadResponseError(
            f"keyloop token: {what}", status=response.status_code, correlation_id=cid
        )

    if not isinstance(payload, dict):
        raise bad("response is not an object")
    value = payload.get("access_token")
    if not isinstance(value, str) or not value:
        raise bad("no access_token")
    token_type = payload.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() not in _TOKEN_TYPES:
        raise bad("unexpected token_type")
    try:
        lifetime = float(payload["expires_in"])  # Apigee sends a string
    except (KeyError, TypeError, ValueError):
        raise bad("expires_in is not a number") from None
    if lifetime <= 0:
        raise bad("expires_in is not positive")
    return AccessToken(value=value, lifetime=lifetime, obtained_at=sent_at)


def optional_time(value: Any, store: Store) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value, store.local_time_zone)
    except ValueError:
        return None


def _address(address: Address) -> dict[str, Any]:
    return _compact(
        {
            "line1": address.line1,
            "line2": address.line2,
            "city": address.city,
            "postalCode": address.postal_code,
        }
    )


def create_body(store: Store, req: NewAppointment) -> dict[str, Any]:
    zone = store.local_time_zone
    if not req.service_product_ids:
        raise KeyloopInvalidRequestError("at least one service product is needed")
    mileage = None
    if req.mileage_value is not None and req.mileage_unit is not None:
        mileage = {"unit": req.mileage_unit, "value": req.mileage_value}
    option = None
    if req.appointment_option_id is not None:
        option = _compact(
            {
                "appointmentOptionId": path_segment(req.appointment_option_id),
                "collectAddress": _address(req.collect_address) if req.collect_address else None,
                "deliveryAddress": (
                    _address(req.delivery_address) if req.delivery_address else None
                ),
            }
        )
    return _compact(
        {
            "details": _compact(
                {
                    "externalReference": req.external_reference,
                    "dueInDateTime": format_time(req.due_in, zone),
                    "dueOutDateTime": format_time(req.due_out, zone) if req.due_out else None,
                    "customerNotes": req.customer_notes,
                }
            ),
            "customer": {
                "names": {"givenName": req.given_name, "familyName": req.family_name},
                "contactInformation": _compact({"email": req.email, "mobile": req.mobile}),
            },
            "vehicle": _compact(
                {
                    "description": req.vehicle_description,
                    "identification": _compact({"licensePlate": req.license_plate, "vin": req.vin}),
                    "mileage": mileage,
                }
            ),
            "bookingOption": option,
            "serviceProducts": [
                {"serviceProductId": path_segment(p)} for p in req.service_product_ids
            ],
            "metadata": _compact(
                {
                    "auditData": _compact(
                        {"userId": req.audit_user_id, "userName": req.audit_user_name}
                    )
                    or None
                }
            ),
        }
    )


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
