"""Mapping of Keyloop/Apigee error answers to our error classes: the one place for it."""

from __future__ import annotations

from typing import Any

import requests

from .errors import (
    KeyloopAuthenticationError,
    KeyloopConflictError,
    KeyloopError,
    KeyloopIndeterminateError,
    KeyloopNotEntitledError,
    KeyloopNotFoundError,
    KeyloopRateLimitedError,
    KeyloopRejectedError,
    KeyloopUnavailableError,
)

_NOT_ENTITLED_CODES = frozenset(
    {"keymanagement.service.invalidapicallasnoapiproductmatchfound", "oauth.v2.apiproductmismatch"}
)
_NOT_ENTITLED_TEXT = "no apiproduct match"
_RATE_LIMIT_PREFIX = "policies.ratelimit."
# Apigee's own 404s: the proxy or the app is not found, so the API behind was never asked.
_GATEWAY_NOT_FOUND_CODES = frozenset(
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


def is_token_fault(response: requests.Response) -> bool:
    """A 401 that a new token may cure (invalid, expired or missing token), not entitlement."""
    return response.status_code == 401 and not _is_not_entitled(response)


def is_gateway_fault(response: requests.Response) -> bool:
    """Whether the answer is the Apigee gateway's own fault (`{"fault": {...}}`) rather than
    the API's: e.g. a 404 ApplicationNotFound says nothing about the resource asked for."""
    fault = _body(response).get("fault")
    if not isinstance(fault, dict):
        return False
    # ApplicationNotFound is the gateway 404 seen; any other fault-shaped body is Apigee's
    # too (the API behind answers `{"code", "message"}`), so it is not the resource's 404.
    code = (fault_code(response) or "").lower()
    return code in _GATEWAY_NOT_FOUND_CODES or bool(fault) or response.status_code != 404


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
        return KeyloopNotFoundError(f"{what}: not found", **kw)
    if status == 409:
        return KeyloopConflictError(f"{what}: conflict (slot taken)", **kw)
    if 400 <= status < 500:
        return KeyloopRejectedError(f"{what}: rejected", **kw)
    if operation == "create" and status == 504:
        # The gateway gave up waiting for the DMS, which may still have booked: assumed, see
        # docs. 500/502/503 are taken as "the DMS did not book".
        return KeyloopIndeterminateError(f"{what}: gateway timeout, outcome unknown", **kw)
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
