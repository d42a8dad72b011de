"""Who may call at all: App Check (only ViSN's own Web UI) and CORS (only its origins).

Both are decided when the functions load, from the environment the runtime sets (no I/O):
firebase_functions sets them up in its `on_call` decorator.

- A `demo-` project (the emulators, `make dev`, the tests) is local: App Check tokens cannot
  be verified offline, so calls without one are accepted as before, and any localhost origin
  may call. Every other project id, or none, is production: App Check enforced, and only the
  origins in WEB_UI_ORIGINS (fail closed: none configured, no browser origin may call).
- createBooking and rearrangeBooking also consume the caller's limited-use App Check token
  (replay protection): a token seen before is refused before any of our code runs.
  firebase_functions 0.6 verifies the token but has no option to consume it (the Node SDK's
  `consumeAppCheckToken`), so `consume_limited_use` does it with firebase_admin. If App
  Check's service cannot answer, the call is UNAVAILABLE / APP_CHECK_UNAVAILABLE.
- `refuse_before_body` verifies the ID and App Check tokens from the headers, before the body
  is read (the wrapper parses the body first): visn/entry/runtime.py's callable_entry.
"""

from __future__ import annotations

import os
from typing import Any

from firebase_functions import logger
from firebase_functions.https_fn import CallableRequest, FunctionsErrorCode, HttpsError

from visn.contract.errors import Reason, booking_error
from visn.infra.clients import project_id

APP_CHECK_HEADER = "X-Firebase-AppCheck"
# The env var behind settings.WEB_UI_ORIGINS: read at load time, when flask-cors is set up.
WEB_UI_ORIGINS_ENV = "WEB_UI_ORIGINS"
# flask-cors takes an origin with regex characters as a pattern (matched whole); one without,
# such as https://app.visn.example, is compared exactly.
LOCALHOST_ORIGIN = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$"
# A stable message an alert can match: App Check's replay service could not be asked.
APP_CHECK_UNAVAILABLE_MESSAGE = "APP_CHECK_UNAVAILABLE: App Check's replay check failed"


def is_demo_project() -> bool:
    return (project_id() or "").startswith("demo-")


def app_check_enforced() -> bool:
    return not is_demo_project()


def cors_origins() -> list[str]:
    """The Web UI's origins (WEB_UI_ORIGINS, comma-separated); localhost too for demo-."""
    configured = [
        origin.strip().rstrip("/")
        for origin in os.environ.get(WEB_UI_ORIGINS_ENV, "").split(",")
        if origin.strip()
    ]
    if is_demo_project():
        return [*configured, LOCALHOST_ORIGIN]
    return configured


def consume_limited_use(request: CallableRequest[Any]) -> None:
    """Refuse a limited-use App Check token that was used before (production only).

    Runs after the `on_call` wrapper has verified the token, so in production one is present
    and valid here; consuming asks App Check whether it was consumed already.
    """
    if not app_check_enforced():
        return
    from firebase_admin import app_check

    token = request.raw_request.headers.get(APP_CHECK_HEADER)
    if not token:
        raise _refused()
    try:
        claims = app_check.verify_token(token, consume=True)
    except ValueError:
        raise _refused() from None  # the token's own problem; never logged (it is a token)
    except Exception as exc:
        # App Check's service failed (unreachable, 5xx, an answer we cannot read): nothing is
        # known of the token, so the call is refused, as one to try again, never let through.
        logger.error(APP_CHECK_UNAVAILABLE_MESSAGE, error=type(exc).__name__)
        raise booking_error(Reason.APP_CHECK_UNAVAILABLE) from None
    if claims.get("already_consumed"):
        raise _refused()


def _refused() -> HttpsError:
    # The same answer the wrapper gives a missing or invalid App Check token.
    return HttpsError(FunctionsErrorCode.UNAUTHENTICATED, "Unauthenticated")


def refuse_before_body(headers: Any) -> HttpsError | None:
    """The refusal of a call whose ID token or App Check token does not verify, decided from
    the headers before its body is read or parsed (the `on_call` wrapper parses the body
    first, then verifies both; it verifies them again after us, which costs a signature check
    with cached keys). None: the call may go on. The same answers as the wrapper's and
    `caller_of`'s: no user is UNAUTHENTICATED with its reason, a bad token the bare 401."""
    from firebase_admin import app_check, auth

    authorization = headers.get("Authorization")
    if authorization is None:
        return booking_error(Reason.UNAUTHENTICATED)
    if not authorization.startswith("Bearer "):
        return _refused()
    try:
        auth.verify_id_token(authorization.removeprefix("Bearer "))
    except Exception:  # any failure to verify is the wrapper's INVALID too; never logged
        return _refused()
    if not app_check_enforced():
        return None
    token = headers.get(APP_CHECK_HEADER)
    if not token:
        return _refused()
    try:
        app_check.verify_token(token)
    except ValueError:
        return _refused()
    except Exception as exc:  # App Check's key set could not be fetched: nothing is known
        logger.error(APP_CHECK_UNAVAILABLE_MESSAGE, error=type(exc).__name__)
        return booking_error(Reason.APP_CHECK_UNAVAILABLE)
    return None
