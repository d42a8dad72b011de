"""The appointment API behind the gateway: availability, create and cancel.

Check order mirrors the real stack: the gateway's token check, then the store in the path,
then the body.
"""

from __future__ import annotations

from typing import Any

from .config import StoreConfig
from .jsonbody import BadRequestError, child_object, non_empty_string, parse_object
from .request import ApiRequest
from .responses import (
    Response,
    gateway_fault,
    json_error,
    method_not_allowed,
    no_such_store,
    not_found,
)
from .state import Auth, SandboxState
from .times import format_instant, parse_date, parse_instant, slot_starting_at

_AUTH_FAULTS = {
    Auth.MISSING: ("Invalid access token", "oauth.v2.InvalidAccessToken"),
    Auth.UNKNOWN: ("Invalid Access Token", "keymanagement.service.invalid_access_token"),
    Auth.EXPIRED: ("Access Token expired", "keymanagement.service.access_token_expired"),
    Auth.NOT_ENTITLED: (
        "Invalid API call as no apiproduct match found",
        "keymanagement.service.InvalidAPICallAsNoApiProductMatchFound",
    ),
}


def handle_appointment_call(state: SandboxState, endpoint: str, request: ApiRequest) -> Response:
    """Answer a call under `/appointment/`; `endpoint` is from `request.classify`."""
    auth = state.authorize(_bearer(request.authorization))
    if auth is not Auth.OK:
        return gateway_fault(401, *_AUTH_FAULTS[auth])
    if endpoint == "other":
        return method_not_allowed() if _is_known_path(request) else not_found()
    enterprise_id, store_id = request.segments[1], request.segments[2]
    store = state.store(enterprise_id, store_id)
    if store is None:
        return no_such_store()
    try:
        if endpoint == "availability":
            return _availability(state, store, parse_object(request.body))
        if endpoint == "create":
            return _create(state, store, parse_object(request.body))
        return _cancel(state, store, request.segments[-1])
    except BadRequestError as exc:
        return json_error(400, exc.code, exc.message)


def _availability(state: SandboxState, store: StoreConfig, data: dict[str, Any]) -> Response:
    for key, expected in (("enterpriseId", store.enterprise_id), ("storeId", store.store_id)):
        if data.get(key) != expected:
            raise BadRequestError(f"{key} must match the path")
    day_text = data.get("date")
    try:
        day = parse_date(day_text if isinstance(day_text, str) else "")
    except ValueError:
        raise BadRequestError("date must be a YYYY-MM-DD date") from None
    _check_service_products(store, data.get("serviceProducts"), "UNKNOWN_SERVICE_PRODUCT")
    _check_booking_option(store, data.get("bookingOption"), "UNKNOWN_APPOINTMENT_OPTION")
    # Full slots are listed too, with capacity 0: clients must skip them.
    slots = [
        {
            "dueInDateTime": format_instant(slot.start, store),
            "dueOutDateTime": format_instant(slot.end, store),
            "capacity": remaining,
        }
        for slot, remaining in state.availability(store, day)
    ]
    return Response(200, {"availableSlots": slots})


def _create(state: SandboxState, store: StoreConfig, data: dict[str, Any]) -> Response:
    details = child_object(data, "details", "details")
    due_in_text = non_empty_string(details, "dueInDateTime", "details.dueInDateTime")
    try:
        due_in = parse_instant(due_in_text, store)
    except ValueError:
        raise BadRequestError("details.dueInDateTime is not a valid date-time") from None
    names = child_object(child_object(data, "customer", "customer"), "names", "customer.names")
    non_empty_string(names, "givenName", "customer.names.givenName")
    non_empty_string(names, "familyName", "customer.names.familyName")
    vehicle = child_object(data, "vehicle", "vehicle")
    identification = child_object(vehicle, "identification", "vehicle.identification")
    non_empty_string(identification, "licensePlate", "vehicle.identification.licensePlate")
    _check_service_products(store, data.get("serviceProducts"), "VALIDATION")
    _check_booking_option(store, data.get("bookingOption"), "VALIDATION")
    slot = slot_starting_at(store, due_in)
    if slot is None:
        return json_error(
            400, "INVALID_SLOT", "details.dueInDateTime is not the start of a slot of this store"
        )
    appointment = state.book(store, slot, data)
    if appointment is None:
        return json_error(409, "SLOT_UNAVAILABLE", "The requested slot is no longer available")
    body = {
        "appointmentId": appointment.appointment_id,
        "details": {
            "appointmentReference": appointment.reference,
            "externalReference": appointment.external_reference,
            "dueInDateTime": appointment.due_in,
            "dueOutDateTime": appointment.due_out,
            "status": appointment.status,
        },
        "serviceProducts": data["serviceProducts"],
        "bookingOption": data.get("bookingOption"),
    }
    return Response(201, body)


def _cancel(state: SandboxState, store: StoreConfig, appointment_id: str) -> Response:
    if state.cancel(store, appointment_id):
        return Response(204)
    return json_error(404, "APPOINTMENT_NOT_FOUND", "No live appointment with that id here")


def _check_service_products(store: StoreConfig, value: Any, unknown_code: str) -> None:
    if not isinstance(value, list) or not value:
        raise BadRequestError("serviceProducts must be a non-empty list")
    for index, item in enumerate(value):
        label = f"serviceProducts[{index}].serviceProductId"
        product_id = non_empty_string(
            item if isinstance(item, dict) else {}, "serviceProductId", label
        )
        if product_id not in store.service_products:
            raise BadRequestError(f"Unknown service product: {product_id}", unknown_code)


def _check_booking_option(store: StoreConfig, value: Any, unknown_code: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise BadRequestError("bookingOption must be an object")
    option_id = non_empty_string(value, "appointmentOptionId", "bookingOption.appointmentOptionId")
    if option_id not in store.appointment_options:
        raise BadRequestError(f"Unknown appointment option: {option_id}", unknown_code)


def _bearer(header: str | None) -> str | None:
    scheme, _, token = (header or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _is_known_path(request: ApiRequest) -> bool:
    """Whether the path is an appointment endpoint that exists for some other method."""
    rest = request.segments[5:]
    return request.segments[3:5] == ("v1", "appointments") and len(rest) <= 1
