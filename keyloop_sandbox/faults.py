"""Scripted faults for the next requests to one endpoint.

`POST /_sandbox/faults` queues `{"endpoint", "count"=1, "status"?, "body"?, "rawBody"?,
"headers"?, "stallSeconds"=0, "stallAfterProcessing"=false, "drop"=false, "process"=false}`
for `token`, `availability`, `create` or `cancel`. Each of the next `count` requests to that
endpoint takes the fault; several faults queued for one endpoint are used up in FIFO order.
A request that takes a fault is handled so:

1. `stallSeconds` > 0: sleep that long first (the request log shows `"stalled"` meanwhile);
   with `stallAfterProcessing`, sleep after step 2 instead (the DMS acted at once, and its
   answer is held: a client that times out meanwhile never learns that it did).
2. The request is processed normally (auth, validation, the booking really made) when `process`
   is true, or when the fault has neither `status` nor `drop` (a bare stall is slow but normal).
   Otherwise it is not processed at all.
3. `drop`: the connection is closed with no response bytes (logged `"dropped"`).
   Else `status` given: that status is sent with `body` (default: a gateway fault JSON for the
   status), or `rawBody` as it is (text/html unless `headers` say otherwise: a body that is
   not JSON), and `headers` (e.g. `Retry-After`), whatever processing answered.
   Else: the normal response is sent.

A fault needs at least one of `status`, `drop` or `stallSeconds`. `DELETE /_sandbox/faults`
clears them all. Not thread-safe by itself: `SandboxState` calls it under its lock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from .jsonbody import BadRequestError, boolean, number, reject_unknown_keys, string_map
from .responses import RawBody, Response, fault_body

FAULT_ENDPOINTS = ("token", "availability", "create", "cancel")
_FIELDS = (
    "endpoint",
    "count",
    "status",
    "body",
    "rawBody",
    "headers",
    "stallSeconds",
    "stallAfterProcessing",
    "drop",
    "process",
)
_MAX_STALL_SECONDS = 600.0

# What Apigee itself says for the statuses a gateway typically produces.
_GATEWAY_FAULTS = {
    401: ("Invalid Access Token", "keymanagement.service.invalid_access_token"),
    429: (
        "Spike arrest violation. Allowed rate : MessageRate{messagesPerPeriod=10, "
        "periodInMicroseconds=1000000, maxBurstMessageCount=1.0}",
        "policies.ratelimit.SpikeArrestViolation",
    ),
    500: ("Internal Server Error", "messaging.runtime.UnknownError"),
    502: ("Unexpected EOF at target", "messaging.adaptors.http.flow.UnexpectedEOFAtTarget"),
    503: (
        "The Service is temporarily unavailable",
        "messaging.adaptors.http.flow.ServiceUnavailable",
    ),
    504: ("Gateway Timeout", "messaging.adaptors.http.flow.GatewayTimeout"),
}


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour (see the module docstring for the rules)."""

    endpoint: str
    status: int | None = None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    stall_seconds: float = 0.0
    drop: bool = False
    process: bool = False
    raw_body: str | None = None
    stall_after_processing: bool = False

    @property
    def processes_request(self) -> bool:
        """Whether the request is also handled normally (rule 2)."""
        return self.process or (self.status is None and not self.drop)

    def response(self) -> Response | None:
        """The scripted answer, or None when the normal answer is to be sent."""
        if self.status is None:
            return None
        if self.raw_body is not None:
            return Response(self.status, RawBody(self.raw_body), self.headers)
        body = self.body if self.body is not None else default_body(self.status)
        return Response(self.status, body, self.headers)

    def to_json(self) -> dict[str, Any]:
        """The control shape (without the count)."""
        return {
            "endpoint": self.endpoint,
            "status": self.status,
            "body": self.body,
            "headers": dict(self.headers),
            "rawBody": self.raw_body,
            "stallSeconds": self.stall_seconds,
            "stallAfterProcessing": self.stall_after_processing,
            "drop": self.drop,
            "process": self.process,
        }


def default_body(status: int) -> Any:
    """A gateway-style fault body for `status` (none for 204, `{}` for other 2xx)."""
    if status == 204:
        return None
    if status < 300:
        return {}
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Sandbox fault"
    faultstring, errorcode = _GATEWAY_FAULTS.get(status, (phrase, f"sandbox.fault.http{status}"))
    return fault_body(faultstring, errorcode)


def parse_fault(data: dict[str, Any]) -> tuple[Fault, int]:
    """A fault and its count from the control body; raises BadRequestError when malformed."""
    reject_unknown_keys(data, _FIELDS)
    endpoint = data.get("endpoint")
    if endpoint not in FAULT_ENDPOINTS:
        raise BadRequestError(f"endpoint must be one of {', '.join(FAULT_ENDPOINTS)}")
    count = data.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise BadRequestError("count must be an integer >= 1")
    status = data.get("status")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599
    ):
        raise BadRequestError("status must be an integer from 200 to 599")
    stall = number(data.get("stallSeconds", 0), "stallSeconds")
    if stall > _MAX_STALL_SECONDS:
        raise BadRequestError(f"stallSeconds must be at most {_MAX_STALL_SECONDS:g}")
    fault = Fault(
        endpoint=str(endpoint),
        status=status,
        body=data.get("body"),
        headers=string_map(data.get("headers", {}), "headers"),
        stall_seconds=stall,
        drop=boolean(data.get("drop", False), "drop"),
        process=boolean(data.get("process", False), "process"),
        raw_body=_optional_text(data.get("rawBody"), "rawBody"),
        stall_after_processing=boolean(
            data.get("stallAfterProcessing", False), "stallAfterProcessing"
        ),
    )
    if fault.status is None and not fault.drop and fault.stall_seconds == 0:
        raise BadRequestError("A fault needs status, drop or stallSeconds")
    if (fault.body is not None or fault.raw_body is not None) and fault.status is None:
        raise BadRequestError("body needs a status")
    if fault.body is not None and fault.raw_body is not None:
        raise BadRequestError("give body or rawBody, not both")
    return fault, count


def _optional_text(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise BadRequestError(f"{name} must be a string")


@dataclass
class _Queued:
    fault: Fault
    remaining: int


class FaultQueue:
    """Pending faults per endpoint, consumed first in, first out."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[_Queued]] = {name: deque() for name in FAULT_ENDPOINTS}

    def add(self, fault: Fault, count: int) -> None:
        """Queue `fault` for the next `count` requests after those already queued."""
        self._queues[fault.endpoint].append(_Queued(fault, count))

    def take(self, endpoint: str) -> Fault | None:
        """The fault for this request to `endpoint`, if one is pending."""
        queue = self._queues.get(endpoint)
        if not queue:
            return None
        head = queue[0]
        head.remaining -= 1
        if head.remaining == 0:
            queue.popleft()
        return head.fault

    def to_json(self) -> list[dict[str, Any]]:
        """Pending faults with their remaining counts."""
        return [
            {**queued.fault.to_json(), "count": queued.remaining}
            for queue in self._queues.values()
            for queued in queue
        ]
