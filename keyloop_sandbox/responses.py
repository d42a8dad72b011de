"""The response value every sandbox handler returns, plus the two error body shapes.

Handlers build a `Response` instead of writing to the socket so they stay testable and so the
HTTP layer alone decides about faults, drops and Content-Length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RawBody:
    """Bytes to send as they are (a body that is not JSON, e.g. a proxy's HTML page)."""

    text: str


@dataclass(frozen=True)
class Response:
    """An HTTP answer: `body` is JSON-serialisable, or None for no body at all."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


def json_error(status: int, code: str, message: str) -> Response:
    """Keyloop's application error shape (what the DMS behind the gateway answers)."""
    return Response(status, {"code": code, "message": message})


def gateway_fault(status: int, faultstring: str, errorcode: str) -> Response:
    """Apigee's own fault shape (what the gateway answers before the DMS is reached)."""
    return Response(status, fault_body(faultstring, errorcode))


def fault_body(faultstring: str, errorcode: str) -> dict[str, Any]:
    """The JSON of an Apigee fault."""
    return {"fault": {"faultstring": faultstring, "detail": {"errorcode": errorcode}}}


def not_found() -> Response:
    """Any path no proxy serves: Apigee's own 404, as the real gateway answers it."""
    return gateway_fault(
        404,
        "Unable to identify proxy for host: default and url: (path)",
        "classification.ApplicationNotFound",
    )


def no_such_store() -> Response:
    """Enterprise/store ids that match no target behind the proxy: Apigee's own 404 too."""
    return gateway_fault(
        404, "Application not found", "messaging.adaptors.http.flow.ApplicationNotFound"
    )


def method_not_allowed() -> Response:
    """A known path called with the wrong method."""
    return json_error(405, "METHOD_NOT_ALLOWED", "Method not allowed on this path")
