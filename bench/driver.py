"""Calls the callables in this process through the real `on_call` wrapper.

As functions-framework does, a Flask app hands each request to main's function; the request
carries an ID token as the Auth emulator issues it (unsigned, accepted while
FIREBASE_AUTH_EMULATOR_HOST is set), so the wrapper's own token check runs as deployed.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import flask
from flask.testing import FlaskClient

from devtools.id_tokens import emulator_id_token
from devtools.stack.config import CALLABLES

from .stack import PROJECT

# The four of the booking path, whose Keyloop requests figure 1 counts: every callable but
# the search (devtools.stack.config.CALLABLES is the one list).
SEARCH = "findFirstAvailable"
BOOKING_CALLABLES = tuple(name for name in CALLABLES if name != SEARCH)


@dataclass(frozen=True)
class User:
    uid: str
    customer_id: str

    def id_token(self) -> str:
        return emulator_id_token(PROJECT, self.uid, self.customer_id)


BENCH_USER = User("bench-user", "cust-bench")


class CallFailedError(RuntimeError):
    """A callable answered an error where the benchmark expected a result."""


class Driver:
    """One Flask app for the callables; a test client per thread, an ID token per user."""

    def __init__(self) -> None:
        import main

        self.app = flask.Flask("visn-bench")
        for name in CALLABLES:
            function = getattr(main, name)
            self.app.add_url_rule(
                f"/{name}",
                name,
                lambda function=function: function(flask.request),
                methods=["POST"],
            )
        self._local = threading.local()
        self._tokens: dict[User, str] = {}

    def call(self, name: str, data: Any, user: User = BENCH_USER) -> dict[str, Any]:
        """The callable's result; CallFailedError when it answers an error."""
        token = self._tokens.get(user)
        if token is None:
            token = self._tokens[user] = user.id_token()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        response = self._client().post(f"/{name}", data=json.dumps({"data": data}), headers=headers)
        body = json.loads(response.data or b"{}")
        if "result" not in body:
            raise CallFailedError(f"{name} answered {response.status_code}: {body.get('error')}")
        return dict(body["result"])

    def prepare_thread(self) -> None:
        """Build this thread's test client now, outside any timing."""
        self._client()

    def _client(self) -> FlaskClient:
        client: FlaskClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self.app.test_client()
        return client
