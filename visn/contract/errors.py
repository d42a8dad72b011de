"""The errors the Web UI sees: an HttpsError with a stable `details.reason` for each case."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from firebase_functions.https_fn import FunctionsErrorCode, HttpsError

from keyloop import (
    KeyloopConflictError,
    KeyloopError,
    KeyloopIndeterminateError,
    KeyloopRejectedError,
    KeyloopTimeoutError,
)


class Reason(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    NO_CUSTOMER = "NO_CUSTOMER"
    VALIDATION = "VALIDATION"
    SUPPLIER_NOT_FOUND = "SUPPLIER_NOT_FOUND"
    NO_LIVE_DIARY = "NO_LIVE_DIARY"
    UNKNOWN_SERVICE_TYPE = "UNKNOWN_SERVICE_TYPE"
    ENQUIRY_NOT_FOUND = "ENQUIRY_NOT_FOUND"
    ENQUIRY_CANCELLED = "ENQUIRY_CANCELLED"
    ENQUIRY_COMPLETED = "ENQUIRY_COMPLETED"
    SAME_SLOT = "SAME_SLOT"
    APPOINTMENT_STARTED = "APPOINTMENT_STARTED"
    SLOT_UNAVAILABLE = "SLOT_UNAVAILABLE"
    DMS_REJECTED = "DMS_REJECTED"
    DMS_UNAVAILABLE = "DMS_UNAVAILABLE"
    DMS_TIMEOUT = "DMS_TIMEOUT"
    DMS_OUTCOME_UNKNOWN = "DMS_OUTCOME_UNKNOWN"
    BOOKING_NOT_SAVED = "BOOKING_NOT_SAVED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IN_PROGRESS = "IN_PROGRESS"
    CONCURRENT_UPDATE = "CONCURRENT_UPDATE"
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    APP_CHECK_UNAVAILABLE = "APP_CHECK_UNAVAILABLE"
    INTERNAL = "INTERNAL"


_E = FunctionsErrorCode
# One row per reason: the callable code and a message safe to show (no personal data, no ids).
_TABLE: dict[Reason, tuple[FunctionsErrorCode, str]] = {
    Reason.UNAUTHENTICATED: (_E.UNAUTHENTICATED, "Sign in to use this function."),
    Reason.NO_CUSTOMER: (_E.PERMISSION_DENIED, "Your account is not linked to a fleet customer."),
    Reason.VALIDATION: (_E.INVALID_ARGUMENT, "The request is not valid."),
    Reason.SUPPLIER_NOT_FOUND: (_E.NOT_FOUND, "The supplier does not exist."),
    Reason.NO_LIVE_DIARY: (_E.FAILED_PRECONDITION, "The supplier does not take live bookings."),
    Reason.UNKNOWN_SERVICE_TYPE: (
        _E.INVALID_ARGUMENT,
        "The supplier does not offer that service type online.",
    ),
    Reason.ENQUIRY_NOT_FOUND: (_E.NOT_FOUND, "The enquiry does not exist."),
    Reason.ENQUIRY_CANCELLED: (_E.FAILED_PRECONDITION, "The booking has been cancelled."),
    Reason.ENQUIRY_COMPLETED: (
        _E.FAILED_PRECONDITION,
        "The dealer has completed this booking.",
    ),
    Reason.SAME_SLOT: (_E.INVALID_ARGUMENT, "The booking is already in that slot."),
    Reason.APPOINTMENT_STARTED: (
        _E.FAILED_PRECONDITION,
        "The appointment has already started; please contact the dealer.",
    ),
    Reason.SLOT_UNAVAILABLE: (_E.ABORTED, "That slot is no longer available."),
    Reason.DMS_REJECTED: (_E.FAILED_PRECONDITION, "The dealer's system refused the booking."),
    Reason.DMS_UNAVAILABLE: (
        _E.UNAVAILABLE,
        "The dealer's system cannot be reached just now. Please try again.",
    ),
    Reason.DMS_TIMEOUT: (
        _E.DEADLINE_EXCEEDED,
        "The dealer's system did not answer in time. Please try again.",
    ),
    Reason.DMS_OUTCOME_UNKNOWN: (
        _E.UNAVAILABLE,
        "We could not confirm the booking with the dealer. We are checking it; please do not "
        "book the same slot again.",
    ),
    Reason.BOOKING_NOT_SAVED: (
        _E.INTERNAL,
        "The booking could not be saved, so nothing was booked. Please try again.",
    ),
    Reason.IDEMPOTENCY_KEY_REUSED: (
        _E.INVALID_ARGUMENT,
        "This idempotency key was already used for a different request.",
    ),
    Reason.IN_PROGRESS: (_E.ABORTED, "This request is still being processed."),
    Reason.CONCURRENT_UPDATE: (_E.ABORTED, "The booking changed meanwhile. Please try again."),
    Reason.DATABASE_UNAVAILABLE: (_E.UNAVAILABLE, "Please try again in a moment."),
    Reason.RATE_LIMITED: (
        _E.RESOURCE_EXHAUSTED,
        "Too many requests. Please try again after the time given.",
    ),
    Reason.APP_CHECK_UNAVAILABLE: (
        _E.UNAVAILABLE,
        "We could not check this request just now. Please try again in a moment.",
    ),
    Reason.INTERNAL: (_E.INTERNAL, "Something went wrong."),
}


class FieldError(dict[str, str]):
    """`{path, message}` of one invalid field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path=path, message=message)


def booking_error(
    reason: Reason,
    message: str | None = None,
    *,
    fields: list[FieldError] | None = None,
    retry_after_seconds: int | None = None,
) -> HttpsError:
    code, default_message = _TABLE[reason]
    details: dict[str, Any] = {"reason": reason.value}
    if fields is not None:
        details["fields"] = [dict(f) for f in fields]
    if retry_after_seconds is not None:
        details["retryAfterSeconds"] = retry_after_seconds
    return HttpsError(code, message or default_message, details)


def reason_of(error: HttpsError) -> str | None:
    details = error.details
    return details.get("reason") if isinstance(details, dict) else None


def reason_for_keyloop(exc: KeyloopError) -> Reason:
    """How a Keyloop failure reads to the user; technical causes all read as 'unavailable'."""
    if isinstance(exc, KeyloopConflictError):
        return Reason.SLOT_UNAVAILABLE
    if isinstance(exc, KeyloopRejectedError):
        return Reason.DMS_REJECTED
    if isinstance(exc, KeyloopIndeterminateError):
        return Reason.DMS_OUTCOME_UNKNOWN
    if isinstance(exc, KeyloopTimeoutError):
        return Reason.DMS_TIMEOUT
    return Reason.DMS_UNAVAILABLE
