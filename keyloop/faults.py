"""Keyloop/Apigee error answers, and no answer at all, mapped to our error classes (one place)."""

from __future__ import annotations

from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

from .errors import (
    KeyloopAuthenticationError,
    KeyloopConflictError,
    KeyloopError,
    KeyloopGatewayNotFoundError,
    KeyloopIndeterminateError,
    KeyloopNotEntitledError,
    KeyloopNotFoundError,
    KeyloopRateLimitedError,
    KeyloopRejectedError,
    KeyloopTimeoutError,
    KeyloopUnavailableError,
)

# Statuses after which a create may have booked (the request reached the gateway).
CREATE_UNKNOWN_STATUSES = frozenset({502, 504})

_NOT_ENTITLED_CODES = frozenset(
    {"keymanagement.service.invalidapicallasnoapiproductmatchfound", "oauth.v2.apiproductmismatch"}
)
_NOT_ENTITLED_TEXT = "no apiproduct match"
_RATE_LIMIT_PREFIX = "policies.ratelimit."
# Apigee's own "nothing here" (**known**): no proxy matches the path, or the proxy found no
# target for it (as with wrong enterprise/store ids). The DMS never saw the request.
GATEWAY_NOT_FOUND_CODES = frozenset(
    {"messaging.adaptors.http.flow.applicationnotfound", "classification.applicationnotfound"}
)


def fault_code(response: requests.Response) -> str | None:
    """The gateway's `fault.detail.errorcode`, Apigee's token `ErrorCode`, or a backend `code`."""
    body = _body(response)
    fault = body.get("fault")
    if isinstance(fault, dict):
        detail = fault.get("detail")
        if isinstance(detail, dict) and isinstance(detail.get("errorcode"), str):
            return str(detail["errorcode"])
    for key in ("ErrorCode", "code", "errorCode"):
        if isinstance(body.get(key), str):
            return str(body[key])
    return None


def is_gateway_fault(response: requests.Response) -> bool:
    """The answer is Apigee's own fault (a `fault` object), not the appointment API's."""
    return isinstance(_body(response).get("fault"), dict)


def is_resource_gone(response: requests.Response) -> bool:
    """A 404 that the appointment API itself gave for the resource asked about.

    Only that means "gone": a gateway fault 404 (wrong path or ids) says nothing about the
    appointment, and neither does a 404 that is not the API's JSON (e.g. an HTML page).
    """
    return response.status_code == 404 and _is_api_answer(response)


def _is_api_answer(response: requests.Response) -> bool:
    """A JSON object that is not Apigee's fault: the API behind the gateway answered."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and not isinstance(body.get("fault"), dict)


def is_token_fault(response: requests.Response) -> bool:
    """A 401 that a new token may cure (invalid, expired or missing token), not entitlement."""
    return response.status_code == 401 and not _is_not_entitled(response)


def error_for_response(operation: str, response: requests.Response, cid: str) -> KeyloopError:
    status = response.status_code
    code = fault_code(response)
    kw: dict[str, Any] = {"status": status, "fault_code": code, "correlation_id": cid}
    what = f"keyloop {operation}"
    if status == 429 or (code and code.lower().startswith(_RATE_LIMIT_PREFIX)):
        # Apigee's spike arrest also answers 403 or 500 with these codes.
        return KeyloopRateLimitedError(
            f"{what}: rate limited", retry_after=_retry_after(response), **kw
        )
    if status == 401:
        if _is_not_entitled(response):
            return KeyloopNotEntitledError(f"{what}: app not entitled to the API product", **kw)
        return KeyloopAuthenticationError(f"{what}: access token refused twice", **kw)
    if status == 403:
        return KeyloopNotEntitledError(f"{what}: forbidden", **kw)
    if status == 404:
        if (code or "").lower() in GATEWAY_NOT_FOUND_CODES or not _is_api_answer(response):
            return KeyloopGatewayNotFoundError(f"{what}: gateway found no such path", **kw)
        return KeyloopNotFoundError(f"{what}: not found", **kw)
    if status == 409:
        return KeyloopConflictError(f"{what}: conflict (slot taken)", **kw)
    if 400 <= status < 500:
        return KeyloopRejectedError(f"{what}: rejected", **kw)
    if operation == "create" and status in CREATE_UNKNOWN_STATUSES:
        # The gateway lost the DMS's answer (502) or gave up waiting for it (504): the DMS may
        # have booked. 500 and 503 are taken as "the DMS did not book" (**assumed**, see
        # docs/decisions.md).
        return KeyloopIndeterminateError(f"{what}: gateway error, outcome unknown", **kw)
    return KeyloopUnavailableError(f"{what}: upstream error", **kw)


def error_for_token_response(response: requests.Response, cid: str) -> KeyloopError:
    status = response.status_code
    code = fault_code(response)
    kw: dict[str, Any] = {"status": status, "fault_code": code, "correlation_id": cid}
    if status in (400, 401, 403):
        # Apigee's message echoes the client id; we keep only the code.
        return KeyloopAuthenticationError("keyloop token: client credentials rejected", **kw)
    return error_for_response("token", response, cid)


def _is_not_entitled(response: requests.Response) -> bool:
    code = (fault_code(response) or "").lower()
    if code in _NOT_ENTITLED_CODES:
        return True
    fault = _body(response).get("fault")
    text = fault.get("faultstring") if isinstance(fault, dict) else None
    return isinstance(text, str) and _NOT_ENTITLED_TEXT in text.lower()


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_for_transport(operation: str, exc: Exception, cid: str) -> KeyloopError:
    """No HTTP answer. What it means depends on whether the request can have been acted on.

    requests reports a read timeout as ReadTimeout on the first try but, once urllib3's
    retries are spent, as a ConnectionError wrapping MaxRetryError: look at the cause.
    """
    cause = getattr(exc.args[0], "reason", exc.args[0]) if exc.args else exc
    what = f"keyloop {operation}"
    if isinstance(exc, requests.exceptions.ConnectTimeout) or isinstance(
        cause, ConnectTimeoutError | NewConnectionError
    ):
        # Never connected: Keyloop saw nothing, whatever the operation.
        if isinstance(cause, NewConnectionError):
            return KeyloopUnavailableError(f"{what}: cannot connect", correlation_id=cid)
        return KeyloopTimeoutError(f"{what}: connect timed out", correlation_id=cid)
    timed_out = isinstance(exc, requests.exceptions.ReadTimeout) or isinstance(
        cause, ReadTimeoutError
    )
    if operation == "create":
        # Sent, and then no answer: the appointment may exist.
        return KeyloopIndeterminateError(
            f"{what}: {'no answer in time' if timed_out else 'connection lost'} after sending",
            correlation_id=cid,
        )
    if timed_out:
        return KeyloopTimeoutError(f"{what}: no answer in time", correlation_id=cid)
    return KeyloopUnavailableError(f"{what}: request failed", correlation_id=cid)
