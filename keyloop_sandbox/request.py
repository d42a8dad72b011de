"""The parts of an incoming HTTP request the handlers need, and which endpoint it is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

TOKEN_PATH = ("oauth", "client_credential", "accesstoken")
_APPOINTMENTS_PREFIX_LENGTH = 5  # appointment / {enterpriseId} / {storeId} / v1 / appointments


@dataclass(frozen=True)
class ApiRequest:
    """An HTTP request reduced to plain values, so handlers need no socket."""

    method: str
    path: str  # raw path, without the query string
    segments: tuple[str, ...]  # percent-decoded path segments
    query: Mapping[str, list[str]]
    authorization: str | None
    content_type: str | None
    correlation_id: str | None
    body: bytes

    @property
    def is_control(self) -> bool:
        """Whether this is a `/_sandbox/...` call (no auth, not logged)."""
        return self.segments[:1] == ("_sandbox",)

    @property
    def is_repair_order_api(self) -> bool:
        """Whether this is `/{enterpriseId}/{storeId}/v1/repair-orders/...` (note: no
        `appointment/` prefix, as Keyloop's own adapter calls it)."""
        return len(self.segments) >= 4 and self.segments[2:4] == ("v1", "repair-orders")

    @property
    def is_appointment_api(self) -> bool:
        """Whether this is under `/appointment/` (where the gateway demands a token)."""
        return self.segments[:1] == ("appointment",)


def build_request(
    method: str,
    target: str,
    authorization: str | None,
    content_type: str | None,
    correlation_id: str | None,
    body: bytes,
) -> ApiRequest:
    """Split a request target into decoded path segments and query parameters."""
    path, _, query = target.partition("?")
    # Decode per segment, after splitting, so an encoded "/" inside an id stays in that id.
    segments = tuple(unquote(part) for part in path.strip("/").split("/") if part)
    return ApiRequest(
        method=method,
        path=path,
        segments=segments,
        query=parse_qs(query, keep_blank_values=True),
        authorization=authorization,
        content_type=content_type,
        correlation_id=correlation_id,
        body=body,
    )


def classify(request: ApiRequest) -> str:
    """The endpoint name used by faults and the request log."""
    if request.segments == TOKEN_PATH:
        return "token"
    segments = request.segments
    if request.is_repair_order_api:
        return "repairOrder" if len(segments) == 5 and request.method == "GET" else "other"
    if (
        len(segments) < _APPOINTMENTS_PREFIX_LENGTH
        or segments[0] != "appointment"
        or segments[3:5] != ("v1", "appointments")
    ):
        return "other"
    rest = segments[_APPOINTMENTS_PREFIX_LENGTH:]
    if not rest and request.method == "POST":
        return "create"
    if rest == ("availability",) and request.method == "POST":
        return "availability"
    if len(rest) == 1 and request.method == "DELETE":
        return "cancel"
    return "other"
