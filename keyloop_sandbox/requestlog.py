"""The log of API and token requests the sandbox received (control calls are not logged)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .times import wire_utc

ENDPOINTS = ("token", "availability", "create", "cancel", "repairOrder", "other")
PENDING = "pending"  # answer not decided yet
STALLED = "stalled"  # sleeping in a stall fault
DROPPED = "dropped"  # connection closed without an answer


@dataclass
class LoggedRequest:
    """One request; `status` is the HTTP status sent, or one of the words above."""

    seq: int
    endpoint: str
    method: str
    path: str
    correlation_id: str | None
    at: datetime
    status: int | str = PENDING

    def to_json(self) -> dict[str, Any]:
        """The control endpoint's request shape."""
        return {
            "seq": self.seq,
            "endpoint": self.endpoint,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "correlationId": self.correlation_id,
            "at": wire_utc(self.at),
        }


class RequestLog:
    """Requests in arrival order. Not thread-safe: `SandboxState` holds the lock."""

    def __init__(self) -> None:
        self._entries: list[LoggedRequest] = []

    def add(
        self, endpoint: str, method: str, path: str, correlation_id: str | None, at: datetime
    ) -> LoggedRequest:
        """Record a request as it arrives; its status is filled in when it is answered."""
        entry = LoggedRequest(len(self._entries) + 1, endpoint, method, path, correlation_id, at)
        self._entries.append(entry)
        return entry

    def to_json(self) -> dict[str, Any]:
        """`{"requests": [...], "counts": {endpoint: n}}` with every endpoint counted."""
        counts = Counter(dict.fromkeys(ENDPOINTS, 0))
        counts.update(entry.endpoint for entry in self._entries)
        return {
            "requests": [entry.to_json() for entry in self._entries],
            "counts": dict(counts),
        }
