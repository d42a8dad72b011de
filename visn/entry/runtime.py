"""How the functions run: options shared by every callable, and firebase_admin on first call."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from firebase_functions import options
from firebase_functions.https_fn import HttpsError
from firebase_functions.params import IntParam

from visn.access import gate as access
from visn.contract import telemetry
from visn.contract.errors import FieldError, Reason, booking_error, reason_of
from visn.infra import settings
from visn.infra.clients import ensure_admin_app

F = TypeVar("F", bound=Callable[..., Any])

BOOKING_MIN_INSTANCES = IntParam(
    "BOOKING_MIN_INSTANCES",
    default=0,
    description="Warm instances kept for getAvailability and createBooking (1 in production)",
)

# Requests one instance serves at once. functions-framework's gunicorn must run as many threads,
# else the rest queue inside the instance: the committed `.env` sets THREADS to this number for
# the deploy (tests/e2e/test_deploy_discovery.py checks they agree for every function).
CONCURRENCY = 80

# Why these values: docs/deploy.md.
CALLABLE_OPTIONS: dict[str, Any] = {
    "region": settings.REGION,
    "secrets": settings.SECRETS,
    "memory": options.MemoryOption.MB_512,
    "cpu": 1,
    "concurrency": CONCURRENCY,
    "timeout_sec": 60,
    "max_instances": 10,  # protects Keyloop, which publishes no rate limits
    # Only ViSN's Web UI: App Check enforced and CORS to its origins (demo-: local, see access).
    "enforce_app_check": access.app_check_enforced(),
    "cors": options.CorsOptions(cors_origins=access.cors_origins(), cors_methods=["post"]),
}
BOOKING_PATH_OPTIONS: dict[str, Any] = {
    **CALLABLE_OPTIONS,
    "min_instances": BOOKING_MIN_INSTANCES,
}
RECONCILER_OPTIONS: dict[str, Any] = {
    "schedule": "every 5 minutes",
    "region": settings.REGION,
    "secrets": settings.SECRETS,
    "memory": options.MemoryOption.MB_512,
    "concurrency": CONCURRENCY,  # as deployed before, made explicit: THREADS must match
    "timeout_sec": 300,
    "max_instances": 1,  # runs may still overlap; items are claimed, so that is safe
}


# keyloopEvents: Keyloop's deliveries are few and short (one read, one write each).
EVENTS_OPTIONS: dict[str, Any] = {
    "region": settings.REGION,
    "secrets": settings.EVENTS_SECRETS,
    "memory": options.MemoryOption.MB_512,
    "cpu": 1,
    "concurrency": CONCURRENCY,
    "timeout_sec": 30,
    "max_instances": 5,  # each event costs a Keyloop read: a flood cannot outrun this
}
SYNC_OPTIONS: dict[str, Any] = {
    "schedule": "every 10 minutes",
    "region": settings.REGION,
    "secrets": settings.SECRETS,
    "memory": options.MemoryOption.MB_512,
    "concurrency": CONCURRENCY,  # THREADS must match (the committed .env)
    "timeout_sec": 540,
    "max_instances": 1,
}


# The largest body a callable reads. A valid request is a few KiB at most (every string is
# bounded; 1000 characters of notes, even escaped, are 12 KiB): Cloud Run would accept 32 MiB.
MAX_CALLABLE_BODY = 64 * 1024


def callable_entry(function: F) -> F:
    """What runs before firebase_functions' callable wrapper, in this order:

    - firebase_admin is initialised on the first request (tokens are verified with it), not at
      import;
    - the ID token and (in production) the App Check token are verified from the headers,
      before the body is read: a caller who may not call costs no parsing;
    - the body is read up to MAX_CALLABLE_BODY and no further (a longer one is INVALID_ARGUMENT
      / VALIDATION), then a body that is not JSON at all is refused with the callable
      protocol's own 400. The wrapper would answer 500 INTERNAL: werkzeug's parse error (or a
      RecursionError from deeply nested arrays) is not an HttpsError to it.
    """
    name = function.__name__

    @functools.wraps(function)
    def entry(request: Any) -> Any:
        ensure_admin_app()
        if request.method != "POST":
            return function(request)
        refused = access.refuse_before_body(request.headers)
        if refused is None and not _bounded(request):
            refused = booking_error(
                Reason.VALIDATION,
                fields=[FieldError("", f"the request is larger than {MAX_CALLABLE_BODY} bytes")],
            )
        if refused is not None:
            # The invocation's line, as for every other refusal (never the token or body).
            with telemetry.invocation(name):
                telemetry.finish("error", reason_of(refused))
            return _error(refused)
        if not _parses(request):
            return _bad_request()
        return function(request)

    return entry  # type: ignore[return-value]


def _bounded(request: Any) -> bool:
    """Read the body, at most MAX_CALLABLE_BODY bytes (werkzeug stops there, with or without
    a Content-Length); kept for the wrapper, which reads it again from the cache."""
    from werkzeug.exceptions import RequestEntityTooLarge

    request.max_content_length = MAX_CALLABLE_BODY
    try:
        request.get_data(cache=True)
    except RequestEntityTooLarge:
        return False
    return True


def _parses(request: Any) -> bool:
    try:
        json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):
        return False
    return True


def _error(error: HttpsError) -> Any:
    # The wrapper's own serialisation of an HttpsError, so the SDK reads it as it would.
    return _response({"error": error._as_dict()}, error._http_error_code.status)


def _bad_request() -> Any:
    return _response({"error": {"status": "INVALID_ARGUMENT", "message": "Bad Request"}}, 400)


def _response(body: dict[str, Any], status: int) -> Any:
    import flask

    response = flask.Response(json.dumps(body), status=status, mimetype="application/json")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
