"""`keyloopEvents` served on a real socket, so the sandbox can post its CloudEvents to it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import flask
from werkzeug.serving import BaseWSGIServer, make_server

import main

EVENTS_SECRET = "test-events-secret-never-logged"


def events_app() -> flask.Flask:
    """Serves main.keyloopEvents the way functions-framework does: handed the request."""
    app = flask.Flask("visn-events-test")
    app.add_url_rule(
        "/keyloopEvents",
        "keyloopEvents",
        lambda: main.keyloopEvents(flask.request),
        methods=["POST", "GET", "PUT"],
    )
    return app


class EventsEndpoint:
    def __init__(self) -> None:
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, events_app(), threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_port}/keyloopEvents"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll until `check()` is truthy (events arrive on other threads); returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
