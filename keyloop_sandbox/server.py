"""HTTP plumbing: the threaded server, the request handler and `start_sandbox`.

The handler only moves bytes: it builds an `ApiRequest`, applies latency and scripted faults,
asks the API or control modules for a `Response`, and writes it with a Content-Length
(HTTP/1.1 keep-alive).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .appointments_api import handle_appointment_call
from .config import SandboxConfig
from .control import handle_control
from .faults import Fault
from .request import ApiRequest, build_request, classify
from .requestlog import DROPPED
from .responses import RawBody, Response, json_error, not_found
from .state import SandboxState
from .token_api import handle_token

_MAX_BODY_BYTES = 10 * 1024 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})


class _HTTPServer(ThreadingHTTPServer):
    """Threaded server that knows the sandbox state and its open connections."""

    daemon_threads = True  # a stalled request must never keep the process alive
    request_queue_size = 1024  # benchmarks open hundreds of connections at once
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: SandboxState) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.state = state
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut keep-alive connections, which would otherwise outlive `server_close`."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Peers vanishing mid-request are routine here (drops, client timeouts): stay quiet.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "KeyloopSandbox/1"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    # Headers and body go out in two writes: without TCP_NODELAY the body waits ~40 ms for
    # the client's delayed ACK on every keep-alive request.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def version_string(self) -> str:
        return self.server_version

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, unknown method) as JSON, not HTML."""
        self.close_connection = True
        if self.command == "HEAD":
            self._send(Response(code))
        else:
            self._send(json_error(code, "HTTP_ERROR", message or HTTPStatus(code).phrase))

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the default line per request is noise and could leak paths or ids."""

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
            if body is None:
                return
            request = build_request(
                self.command,
                self.path,
                self.headers.get("Authorization"),
                self.headers.get("Content-Type"),
                self.headers.get("correlation-id"),
                body,
            )
            if request.is_control:
                self._send(handle_control(self.server.state, request))
            else:
                self._serve_api(request)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:  # never a traceback to the client, never a dead server thread
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            self._send(json_error(500, "INTERNAL", "The sandbox failed to handle this request"))

    def _serve_api(self, request: ApiRequest) -> None:
        state = self.server.state
        endpoint = classify(request)
        entry, fault = state.begin_request(
            endpoint, request.method, request.path, request.correlation_id
        )
        # Sleep outside any lock: latency first, then the fault's stall (before processing,
        # or after it with stallAfterProcessing).
        stall = fault.stall_seconds if fault else 0.0
        stall_after = fault is not None and fault.stall_after_processing
        delay = state.latency_seconds() + (0.0 if stall_after else stall)
        if delay > 0:
            time.sleep(delay)
        response = _answer(state, endpoint, request, fault)
        if stall_after:
            time.sleep(stall)
        if fault is not None and fault.drop:
            state.finish_request(entry, DROPPED)
            self._drop()
            return
        state.finish_request(entry, response.status)
        self._send(response)

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering a 4xx for an unreadable one."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            self._send(json_error(411, "LENGTH_REQUIRED", "Send a Content-Length"))
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > _MAX_BODY_BYTES:
            self.close_connection = True
            self._send(json_error(400, "INVALID_BODY", "Bad Content-Length"))
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, response: Response) -> None:
        has_body = response.status not in _NO_BODY_STATUSES
        payload = b""
        content_type = "application/json"
        if has_body and isinstance(response.body, RawBody):
            payload = response.body.text.encode("utf-8")
            content_type = "text/html; charset=utf-8"
        elif has_body and response.body is not None:
            payload = json.dumps(response.body).encode("utf-8")
        self.send_response(response.status)
        custom = {name.lower() for name in response.headers}
        if payload and "content-type" not in custom:
            self.send_header("Content-Type", content_type)
        for name, value in response.headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        if has_body:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def _drop(self) -> None:
        """Close the connection without sending a single byte."""
        self.close_connection = True
        with contextlib.suppress(OSError):  # the peer is already gone
            self.connection.shutdown(socket.SHUT_RDWR)


def _answer(
    state: SandboxState, endpoint: str, request: ApiRequest, fault: Fault | None
) -> Response:
    """The response to send (ignored on a drop), per the rules in `faults.py`."""
    normal: Response | None = None
    if fault is None or fault.processes_request:
        normal = _route(state, endpoint, request)
    scripted = fault.response() if fault is not None else None
    if scripted is not None:
        return scripted
    # Rule 2 guarantees processing whenever a fault has no status and no drop.
    return normal if normal is not None else Response(502)


def _route(state: SandboxState, endpoint: str, request: ApiRequest) -> Response:
    if endpoint == "token":
        return handle_token(state, request)
    if request.is_appointment_api:
        return handle_appointment_call(state, endpoint, request)
    return not_found()


class SandboxServer:
    """A running (or startable) sandbox. Use `start_sandbox`, or `.start()` yourself."""

    def __init__(
        self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.state = SandboxState(config or SandboxConfig())
        self._httpd = _HTTPServer((host, port), self.state)
        self._host = host
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def host(self) -> str:
        """The host the server was bound to."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:54321`."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def start(self) -> SandboxServer:
        """Serve in a background daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="keyloop-sandbox",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, close the listening socket and cut open connections."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._httpd.shutdown()  # only valid while serve_forever runs
            self._thread.join()
        self._httpd.server_close()
        self._httpd.close_connections()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def start_sandbox(
    config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> SandboxServer:
    """Start a sandbox serving in a background thread; `port=0` picks a free port."""
    return SandboxServer(config, host, port).start()
