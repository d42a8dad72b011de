"""How the functions run: options shared by every callable, and firebase_admin on first call."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from firebase_functions import options
from firebase_functions.params import IntParam

from visn.access import gate as access
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


def callable_entry(function: F) -> F:
    """What runs before firebase_functions' callable wrapper:

    - firebase_admin is initialised on the first request (the wrapper verifies ID tokens
      before our code runs), not at import;
    - a body that is not JSON at all is refused with the callable protocol's own 400. The
      wrapper would answer 500 INTERNAL: werkzeug's parse error (or a RecursionError from
      deeply nested arrays) is not an HttpsError to it.
    """

    @functools.wraps(function)
    def entry(request: Any) -> Any:
        ensure_admin_app()
        if request.method == "POST" and not _parses(request):
            return _bad_request()
        return function(request)

    return entry  # type: ignore[return-value]


def _parses(request: Any) -> bool:
    try:
        json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):
        return False
    return True


def _bad_request() -> Any:
    import flask

    body = {"error": {"status": "INVALID_ARGUMENT", "message": "Bad Request"}}
    response = flask.Response(json.dumps(body), status=400, mimetype="application/json")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
