"""Issue 20, finding 7: who may call is decided before a body is read, and no body is read past
its limit: the callables through the real `on_call` wrapper (callable_entry in front of it),
keyloopEvents on a real socket."""

from __future__ import annotations

import io
import json
import socket
from typing import Any
from urllib.parse import urlsplit

from devtools.seed import UK_SUPPLIER
from tests.functions.events_endpoint import EVENTS_SECRET, EventsEndpoint
from tests.functions.harness import ALICE, Harness
from tests.functions.test_keyloop_events import CE, event, post
from visn.entry.runtime import MAX_CALLABLE_BODY
from visn.sync.events import MAX_BODY


class CountingStream(io.BytesIO):
    """A request body that counts the bytes anyone read of it."""

    def __init__(self, body: bytes) -> None:
        super().__init__(body)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readline(self, size: int | None = -1) -> bytes:
        chunk = super().readline(size)
        self.bytes_read += len(chunk)
        return chunk


def raw_call(
    harness: Harness, name: str, body: bytes, authorization: str | None
) -> tuple[int, Any, CountingStream]:
    stream = CountingStream(body)
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    with harness.app.test_client() as client:
        response = client.post(
            f"/{name}", input_stream=stream, content_length=len(body), headers=headers
        )
    return response.status_code, json.loads(response.data or b"{}"), stream


def availability(padding: int = 0) -> bytes:
    request = {"supplierId": UK_SUPPLIER, "date": "2027-01-12", "serviceTypes": ["SERVICE"]}
    return json.dumps({"data": request}).encode() + b" " * padding


def test_a_caller_without_a_valid_id_token_is_refused_before_the_body_is_read(
    harness: Harness,
) -> None:
    garbage = b"{not json at all" + b"x" * 10_000
    status, body, stream = raw_call(harness, "getAvailability", garbage, "Bearer not-a-token")
    assert (status, body["error"]["status"]) == (401, "UNAUTHENTICATED"), body
    assert stream.bytes_read == 0
    status, body, stream = raw_call(harness, "createBooking", garbage, None)
    assert status == 401, body
    assert body["error"]["details"] == {"reason": "UNAUTHENTICATED"}
    assert stream.bytes_read == 0
    assert harness.upstream_requests() == []


def test_a_callable_body_over_the_limit_is_not_read(harness: Harness) -> None:
    token = f"Bearer {ALICE.id_token()}"
    over = availability(padding=MAX_CALLABLE_BODY)  # valid JSON, too long
    status, body, stream = raw_call(harness, "getAvailability", over, token)
    assert (status, body["error"]["status"]) == (400, "INVALID_ARGUMENT"), body
    assert body["error"]["details"]["reason"] == "VALIDATION"
    assert [f["path"] for f in body["error"]["details"]["fields"]] == [""]
    assert stream.bytes_read == 0, "a Content-Length over the limit: nothing read"
    assert harness.upstream_requests() == []
    # Just under the limit, the same request is served.
    under = availability(padding=MAX_CALLABLE_BODY - len(availability()))
    assert len(under) == MAX_CALLABLE_BODY
    status, body, _ = raw_call(harness, "getAvailability", under, token)
    assert status == 200, body
    assert body["result"]["days"][0]["slots"]


# -- keyloopEvents, on a real socket ------------------------------------------------------------


def _headers_only(url: str, key: str, length: int) -> bytes:
    """Send a POST's headers announcing `length` bytes and no body; the first line of the
    answer (an endpoint that waits for the body times out here instead)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            (
                f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Content-Type: {CE}\r\nx-api-key: {key}\r\nContent-Length: {length}\r\n\r\n"
            ).encode()
        )
        try:
            return sock.recv(200).split(b"\r\n", 1)[0]
        except TimeoutError:
            return b"(no answer: the endpoint waited for the body)"


def test_events_check_the_key_and_length_before_reading(
    harness: Harness, events: EventsEndpoint
) -> None:
    del harness
    huge = 32 * 1024 * 1024  # what Cloud Run would accept
    assert b" 401 " in _headers_only(events.url, "wrong-key", huge)
    assert b" 413 " in _headers_only(events.url, EVENTS_SECRET, huge)
    assert b" 413 " in _headers_only(events.url, EVENTS_SECRET, MAX_BODY + 1)
    # A body at the limit is read and parsed as before.
    padded = json.dumps(event()).encode()
    padded += b" " * (MAX_BODY - len(padded))
    assert post(events, padded).status_code == 204
