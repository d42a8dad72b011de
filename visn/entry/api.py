"""The callables' shared path: who is calling, is the input valid, and what error to show.

Handlers and request models are imported on first call: they bring the Firestore client and
pydantic, too heavy to load while the emulator or a deploy merely discovers the functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from firebase_functions import logger
from firebase_functions.https_fn import CallableRequest, HttpsError

from keyloop import KeyloopError
from visn.access import gate as access
from visn.contract import telemetry
from visn.contract.caller import Caller, caller_of
from visn.contract.errors import FieldError, Reason, booking_error, reason_for_keyloop, reason_of

if TYPE_CHECKING:
    from pydantic import BaseModel

# pydantic and the request models load on the first call, not at import: building the models
# is most of what `import main` would otherwise add to a cold start (bench, figure 6).
M = TypeVar("M", bound="BaseModel")
Handler = Callable[[Caller, M], dict[str, Any]]


def get_availability(request: CallableRequest[Any]) -> dict[str, Any]:
    from visn.access.quotas import charge_availability
    from visn.availability.lookup import get_availability
    from visn.contract.schemas import AvailabilityRequest

    def handle(caller: Caller, data: AvailabilityRequest) -> dict[str, Any]:
        charge_availability(caller, data.days)  # in memory: no Firestore call of its own
        return get_availability(data)

    return _invoke("getAvailability", request, AvailabilityRequest, handle)


def find_first_available(request: CallableRequest[Any]) -> dict[str, Any]:
    from visn.access.quotas import charge_availability
    from visn.availability.first_available import find_first_available
    from visn.contract.schemas import FirstAvailableRequest

    def handle(caller: Caller, data: FirstAvailableRequest) -> dict[str, Any]:
        # Each batch of days is counted as a view of those days, before it is asked for.
        return find_first_available(data, lambda days: charge_availability(caller, days))

    return _invoke("findFirstAvailable", request, FirstAvailableRequest, handle)


def create_booking(request: CallableRequest[Any]) -> dict[str, Any]:
    from visn.contract.schemas import CreateBookingRequest
    from visn.saga.booking import create_booking

    _consume_limited_use("createBooking", request)
    return _invoke("createBooking", request, CreateBookingRequest, create_booking)


def cancel_booking(request: CallableRequest[Any]) -> dict[str, Any]:
    from visn.contract.schemas import CancelBookingRequest
    from visn.saga.cancel import cancel_booking

    return _invoke("cancelBooking", request, CancelBookingRequest, cancel_booking)


def rearrange_booking(request: CallableRequest[Any]) -> dict[str, Any]:
    from visn.contract.schemas import RearrangeBookingRequest
    from visn.saga.rearrange import rearrange_booking

    _consume_limited_use("rearrangeBooking", request)
    return _invoke("rearrangeBooking", request, RearrangeBookingRequest, rearrange_booking)


# A stable message an alert can match (ops/): a scheduled reconciler run did not finish.
RECONCILER_FAILED_MESSAGE = "RECONCILER_FAILED: the scheduled reconciler run did not finish"


def reconcile(event: Any) -> None:
    """The scheduled reconciler: the same work as `python -m visn reconcile`."""
    from visn.saga.reconciler import reconcile as run

    try:
        run()
    except Exception as exc:
        # Only the type: a Firestore or Keyloop message may carry ids we do not log here.
        logger.error(RECONCILER_FAILED_MESSAGE, error=type(exc).__name__)
        raise


def keyloop_events(request: Any) -> Any:
    """`keyloopEvents`: Keyloop's CloudEvents (visn/sync/events.py)."""
    import flask

    from visn.sync.events import MAX_BODY, handle

    def read() -> bytes | None:
        # Only once the key is checked, and never past MAX_BODY: werkzeug refuses a larger
        # Content-Length before reading, and stops a body without one at the limit.
        from werkzeug.exceptions import RequestEntityTooLarge

        request.max_content_length = MAX_BODY
        try:
            return bytes(request.get_data(cache=False))
        except RequestEntityTooLarge:
            return None

    answer = handle(request.method, request.headers, read, request.content_type)
    return flask.Response(status=answer.status)


def sync_dms_bookings(event: Any) -> None:
    """The scheduled DMS sync: the same work as `python -m visn sync`, with the intervals."""
    from visn.sync.polling import sync

    sync()


def validate(model: type[M], data: Any) -> M:
    """The request model, or VALIDATION with every field at fault (values never echoed)."""
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise booking_error(Reason.VALIDATION, fields=[FieldError("", "must be an object")])
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise booking_error(
            Reason.VALIDATION,
            fields=[
                FieldError(".".join(str(p) for p in e["loc"]), _message(e["msg"]))
                for e in exc.errors(include_input=False, include_url=False)
            ],
        ) from None
    cross = getattr(parsed, "cross_field_errors", None)
    if cross is not None and (problems := cross()):
        raise booking_error(Reason.VALIDATION, fields=[FieldError(p, m) for p, m in problems])
    return parsed


def _consume_limited_use(name: str, request: CallableRequest[Any]) -> None:
    """Replay protection, before any of our work; a refusal gets its invocation line too."""
    try:
        access.consume_limited_use(request)
    except HttpsError as exc:
        with telemetry.invocation(name):
            telemetry.finish("error", reason_of(exc))
        raise


def _invoke(
    name: str, request: CallableRequest[Any], model: type[M], handler: Handler[M]
) -> dict[str, Any]:
    reason: str | None = None
    with telemetry.invocation(name):
        try:
            caller = caller_of(request)
            data = validate(model, request.data)
            telemetry.annotate(
                supplierId=getattr(data, "supplierId", None),
                enquiryId=getattr(data, "enquiryId", None),
            )
            return handler(caller, data)
        except HttpsError as exc:
            reason = reason_of(exc)
            raise
        except KeyloopError as exc:
            reason = reason_for_keyloop(exc).value
            raise booking_error(Reason(reason)) from exc
        except Exception as exc:
            reason = _unexpected_reason(exc).value
            # The stack says where; never the message, the request or a token (telemetry).
            logger.error(
                "callable failed unexpectedly",
                callable=name,
                error=type(exc).__name__,
                stack=telemetry.stack_of(exc),
            )
            raise booking_error(Reason(reason)) from exc
        finally:
            telemetry.finish("ok" if reason is None else "error", reason)


def _unexpected_reason(exc: Exception) -> Reason:
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.GoogleAPIError | gexc.RetryError):
        return Reason.DATABASE_UNAVAILABLE
    return Reason.INTERNAL


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")
