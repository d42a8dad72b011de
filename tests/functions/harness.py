"""Drives the callables through the real `on_call` wrapper, as the Web UI's SDK would."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import flask
import requests
from google.api_core import exceptions as gexc
from google.cloud import firestore

import main
from devtools.contract import RESULT_MODELS
from devtools.id_tokens import emulator_id_token
from devtools.stack.config import CALLABLES
from keyloop_sandbox import SandboxServer

PROJECT = "demo-visn"


@dataclass(frozen=True)
class User:
    uid: str
    customer_id: str | None

    def id_token(self) -> str:
        """An ID token as the Auth emulator issues it (unsigned, right audience and issuer)."""
        return emulator_id_token(PROJECT, self.uid, self.customer_id)


ALICE = User("user-alice", "cust-a")
ALICE_COLLEAGUE = User("user-alan", "cust-a")
BOB = User("user-bob", "cust-b")
NO_CUSTOMER = User("user-nobody", None)


@dataclass(frozen=True)
class Outcome:
    http_status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return "result" in self.body

    @property
    def result(self) -> dict[str, Any]:
        assert "result" in self.body, f"expected a result, got {self.body}"
        return dict(self.body["result"])

    @property
    def error(self) -> dict[str, Any]:
        assert "error" in self.body, f"expected an error, got {self.body}"
        return dict(self.body["error"])

    @property
    def status(self) -> str:
        return str(self.error["status"])

    @property
    def reason(self) -> str | None:
        details = self.error.get("details") or {}
        return details.get("reason") if isinstance(details, dict) else None

    @property
    def fields(self) -> list[dict[str, str]]:
        return list((self.error.get("details") or {}).get("fields") or [])


def callable_app() -> flask.Flask:
    """A Flask app serving main's callables the way functions-framework does: the function
    is handed the request object."""
    app = flask.Flask("visn-test")
    for name in CALLABLES:
        function = getattr(main, name)
        app.add_url_rule(
            f"/{name}",
            name,
            lambda function=function: function(flask.request),
            methods=["POST", "OPTIONS"],
        )
    return app


@dataclass
class Harness:
    app: flask.Flask
    sandbox: SandboxServer
    db: firestore.Client
    http: requests.Session = field(default_factory=requests.Session)

    def call(self, name: str, data: Any, user: User | None = ALICE) -> Outcome:
        headers = {"Content-Type": "application/json"}
        if user is not None:
            headers["Authorization"] = f"Bearer {user.id_token()}"
        with self.app.test_client() as client:
            response = client.post(f"/{name}", data=json.dumps({"data": data}), headers=headers)
        body = json.loads(response.data or b"{}")
        if "result" in body:
            # Every result any test sees must keep to the published contract.
            RESULT_MODELS[name].model_validate(body["result"])
        return Outcome(response.status_code, body)

    # -- the sandbox's view ----------------------------------------------------------------

    def sandbox_get(self, path: str) -> Any:
        response = self.http.get(f"{self.sandbox.url}/_sandbox/{path}", timeout=5)
        response.raise_for_status()
        return response.json()

    def sandbox_post(self, path: str, body: Any) -> Any:
        response = self.http.post(f"{self.sandbox.url}/_sandbox/{path}", json=body, timeout=5)
        response.raise_for_status()
        return response.json()

    def fault(self, endpoint: str, **fault: Any) -> None:
        self.sandbox_post("faults", {"endpoint": endpoint, **fault})

    def appointments(self, status: str | None = None) -> list[dict[str, Any]]:
        query = f"?status={status}" if status else ""
        return list(self.sandbox_get(f"appointments{query}")["appointments"])

    def upstream_requests(self) -> list[dict[str, Any]]:
        return list(self.sandbox_get("requests")["requests"])

    def upstream_counts(self) -> dict[str, int]:
        return dict(self.sandbox_get("requests")["counts"])

    # -- Firestore's view ------------------------------------------------------------------

    def doc(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        snapshot = self.db.collection(collection).document(doc_id).get()
        return snapshot.to_dict() if snapshot.exists else None

    def docs(self, collection: str) -> dict[str, dict[str, Any]]:
        return {s.id: s.to_dict() or {} for s in self.db.collection(collection).stream()}


def firestore_outage(what: str) -> Exception:
    """The error Firestore raises when it cannot be reached, for injected write failures."""
    return gexc.ServiceUnavailable(f"{what} (injected)")  # type: ignore[no-untyped-call]
