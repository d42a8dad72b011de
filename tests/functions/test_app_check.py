"""App Check in the production configuration: main loaded for a project that is not `demo-`.

The verifier is firebase_admin's own (`app_check.verify_token`, as firebase_functions calls
it): a PyJWKClient fetching the key set from `_AppCheckService._JWKS_URL`, and for limited-use
tokens a POST to `_VERIFY_URL_FORMAT`. Only those two URLs are changed, to a server of this
test on 127.0.0.1 that serves our own key set and remembers consumed tokens, so the real
fetch, signature, header, audience and issuer checks all run (docs/decisions.md, issue 14).

ID tokens are still the Auth emulator's (FIREBASE_AUTH_EMULATOR_HOST): App Check is what is
under test here.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import firebase_admin
import flask
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from firebase_admin import app_check
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

import main
import visn.entry.runtime
from devtools.id_tokens import emulator_id_token
from devtools.seed import UK_SUPPLIER, seed_firestore
from devtools.stack.config import CALLABLES
from tests.functions.conftest import FROZEN_NOW
from tests.functions.harness import PROJECT, Harness, callable_app
from visn.infra import clients

PRODUCTION = "visn-prod-test"
PROJECT_NUMBER = "123456789012"
APP_ID = "1:123456789012:web:0123456789abcdef"
KID = "test-key-1"
SLOT = {"start": "2027-01-12T10:00:00+00:00"}


@dataclass
class AppCheckService:
    """Google's App Check endpoints as the verifier uses them: the key set and replay."""

    url: str
    key: rsa.RSAPrivateKey
    consumed: set[str] = field(default_factory=set)
    replay_checks: int = 0
    replay_status: int = 200  # anything else: the replay service failing

    def token(self, *, key: rsa.RSAPrivateKey | None = None, project: str = PRODUCTION) -> str:
        now = int(time.time())
        claims = {
            "iss": f"https://firebaseappcheck.googleapis.com/{PROJECT_NUMBER}",
            "aud": [f"projects/{PROJECT_NUMBER}", f"projects/{project}"],
            "sub": APP_ID,
            "iat": now,
            "exp": now + 3600,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(
            claims, key or self.key, algorithm="RS256", headers={"kid": KID, "typ": "JWT"}
        )


def _jwk(key: rsa.RSAPrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()

    def b64(n: int) -> str:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return {
        "kty": "RSA",
        "kid": KID,
        "alg": "RS256",
        "use": "sig",
        "n": b64(numbers.n),
        "e": b64(numbers.e),
    }


@pytest.fixture
def app_check_service() -> Iterator[AppCheckService]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = json.dumps({"keys": [_jwk(key)]}).encode()
    lock = threading.Lock()
    service: AppCheckService

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(jwks if self.path == "/v1/jwks" else None)

        def do_POST(self) -> None:
            if not self.path.endswith(f"/projects/{PRODUCTION}:verifyAppCheckToken"):
                self._answer(None)
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            token = body["app_check_token"]
            if service.replay_status != 200:
                with lock:
                    service.replay_checks += 1
                self.send_response(service.replay_status)
                self.end_headers()
                return
            with lock:
                service.replay_checks += 1
                seen = token in service.consumed
                service.consumed.add(token)
            self._answer(json.dumps({"alreadyConsumed": seen}).encode())

        def _answer(self, body: bytes | None) -> None:
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service = AppCheckService(f"http://127.0.0.1:{server.server_address[1]}", key)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Production:
    app: flask.Flask
    harness: Harness
    service: AppCheckService
    handled: list[str]

    def call(self, name: str, data: Any, app_check_token: str | None) -> tuple[int, Any]:
        headers = {
            "Content-Type": "application/json",
            "Authorization": "Bearer " + emulator_id_token(PRODUCTION, "user-alice", "cust-a"),
        }
        if app_check_token is not None:
            headers["X-Firebase-AppCheck"] = app_check_token
        with self.app.test_client() as client:
            response = client.post(f"/{name}", data=json.dumps({"data": data}), headers=headers)
        return response.status_code, json.loads(response.data or b"{}")


class _Anonymous(firebase_admin.credentials.Base):  # type: ignore[misc]
    def get_credential(self) -> AnonymousCredentials:
        return AnonymousCredentials()  # type: ignore[no-untyped-call]


@pytest.fixture
def production(
    harness: Harness, app_check_service: AppCheckService, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Production]:
    url = app_check_service.url
    monkeypatch.setattr(app_check._AppCheckService, "_JWKS_URL", f"{url}/v1/jwks")
    monkeypatch.setattr(
        app_check._AppCheckService,
        "_VERIFY_URL_FORMAT",
        url + "/v1beta/projects/{project_id}:verifyAppCheckToken",
    )
    monkeypatch.setenv("GCLOUD_PROJECT", PRODUCTION)
    monkeypatch.setattr("visn.infra.clock.now", lambda: FROZEN_NOW)
    _admin_app(PRODUCTION)
    _reload_main()
    seed_firestore(firestore.Client(project=PRODUCTION))  # suppliers and ViSN's counter
    handled: list[str] = []
    real_invoke = visn.entry.api._invoke

    def spy(name: str, *args: Any) -> Any:
        handled.append(name)
        return real_invoke(name, *args)

    monkeypatch.setattr("visn.entry.api._invoke", spy)
    try:
        yield Production(callable_app(), harness, app_check_service, handled)
    finally:
        monkeypatch.setenv("GCLOUD_PROJECT", PROJECT)
        _admin_app(None)
        _reload_main()
        clients.reset()


def _reload_main() -> None:
    """main as the runtime loads it for the current GCLOUD_PROJECT. visn.entry.runtime declares a
    param, which firebase_functions refuses to see declared twice: forget it first."""
    from firebase_functions import params

    params._params.pop(visn.entry.runtime.BOOKING_MIN_INSTANCES.name, None)
    importlib.reload(visn.entry.runtime)
    importlib.reload(main)


def _admin_app(project: str | None) -> None:
    """A fresh default firebase_admin app (App Check's verifier is cached on it)."""
    with contextlib.suppress(ValueError):
        firebase_admin.delete_app(firebase_admin.get_app())
    clients._admin_ready = False
    if project is not None:
        firebase_admin.initialize_app(_Anonymous(), {"projectId": project})
        clients._admin_ready = True


def availability() -> dict[str, Any]:
    return {"supplierId": UK_SUPPLIER, "date": "2027-01-12", "serviceTypes": ["SERVICE"]}


def booking() -> dict[str, Any]:
    return {
        "idempotencyKey": f"key-app-check-{uuid.uuid4()}",
        "supplierId": UK_SUPPLIER,
        "serviceTypes": ["SERVICE"],
        "slot": SLOT,
        "vehicle": {"registration": "AB12 CDE"},
        "contact": {"givenName": "Ada", "familyName": "Lovelace"},
    }


REQUESTS: dict[str, Callable[[], dict[str, Any]]] = {
    "getAvailability": availability,
    "findFirstAvailable": lambda: {"supplierId": UK_SUPPLIER, "serviceTypes": ["SERVICE"]},
    "createBooking": booking,
    "cancelBooking": lambda: {"enquiryId": "some-enquiry"},
    "rearrangeBooking": lambda: {
        "idempotencyKey": f"key-app-check-{uuid.uuid4()}",
        "enquiryId": "some-enquiry",
        "slot": SLOT,
    },
}


def assert_refused(outcome: tuple[int, Any]) -> None:
    status, body = outcome
    assert status == 401, body
    assert body["error"]["status"] == "UNAUTHENTICATED"


def test_main_enforces_app_check_outside_demo_projects(production: Production) -> None:
    del production
    assert visn.entry.runtime.CALLABLE_OPTIONS["enforce_app_check"] is True


@pytest.mark.parametrize("name", CALLABLES)
def test_a_call_without_a_token_is_refused_before_our_code(
    production: Production, name: str
) -> None:
    assert_refused(production.call(name, REQUESTS[name](), app_check_token=None))
    assert production.handled == []
    assert production.harness.upstream_requests() == []


@pytest.mark.parametrize("name", CALLABLES)
def test_a_forged_token_is_refused_before_our_code(production: Production, name: str) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    service = production.service
    forged = [
        service.token(key=other_key),  # signed with a key not in the key set
        service.token(project="someone-elses-project"),  # genuine, for another project
        "not-a-token",
    ]
    for token in forged:
        assert_refused(production.call(name, REQUESTS[name](), app_check_token=token))
    assert production.handled == []
    assert production.harness.upstream_requests() == []
    assert service.replay_checks == 0


def test_a_valid_token_is_accepted(production: Production) -> None:
    status, body = production.call("getAvailability", availability(), production.service.token())
    assert status == 200, body
    assert body["result"]["days"][0]["slots"]
    assert production.service.replay_checks == 0, "availability does not consume its token"


def test_a_replayed_limited_use_token_is_refused_before_our_code(production: Production) -> None:
    token = production.service.token()
    status, body = production.call("createBooking", booking(), token)
    assert status == 200, body
    created = body["result"]
    assert production.handled == ["createBooking"]
    sent = production.harness.upstream_counts()

    # The same token again, even on a fresh request: refused, and nothing else happens.
    assert_refused(production.call("createBooking", booking(), token))
    move = {"idempotencyKey": f"key-app-check-{uuid.uuid4()}", "enquiryId": created["enquiryId"]}
    assert_refused(
        production.call(
            "rearrangeBooking", {**move, "slot": {"start": "2027-01-13T14:00:00+00:00"}}, token
        )
    )
    assert production.handled == ["createBooking"]
    assert production.harness.upstream_counts() == sent
    assert production.service.replay_checks == 3

    # A fresh limited-use token moves it.
    fresh = production.service.token()
    status, body = production.call(
        "rearrangeBooking", {**move, "slot": {"start": "2027-01-13T14:00:00+00:00"}}, fresh
    )
    assert status == 200, body
    assert production.handled == ["createBooking", "rearrangeBooking"]


@pytest.mark.parametrize("name", ["createBooking", "rearrangeBooking"])
def test_a_failing_replay_service_is_a_clear_error_and_logged(
    production: Production, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 20, finding 7: App Check's replay service failing is UNAVAILABLE with reason
    APP_CHECK_UNAVAILABLE (try again), logged, and nothing of ours runs."""
    production.service.replay_status = 502
    capsys.readouterr()
    token = production.service.token()
    status, body = production.call(name, REQUESTS[name](), token)
    assert status == 503, body
    assert body["error"]["status"] == "UNAVAILABLE"
    assert body["error"]["details"] == {"reason": "APP_CHECK_UNAVAILABLE"}
    assert production.service.replay_checks == 1
    assert production.handled == []
    assert production.harness.upstream_requests() == []
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert token not in out, "never a token in a log line"
    lines = [json.loads(line) for line in out.splitlines() if line[:1] == "{"]
    (alert,) = [line for line in lines if line["message"].startswith("APP_CHECK_UNAVAILABLE")]
    assert alert["severity"] == "ERROR"
    assert isinstance(alert["error"], str), "the error's type, never its message"
    (finished,) = [line for line in lines if line["message"] == "callable finished"]
    assert (finished["callable"], finished["reason"]) == (name, "APP_CHECK_UNAVAILABLE")


@pytest.mark.parametrize("name", CALLABLES)
def test_app_check_is_checked_before_the_body_is_parsed(production: Production, name: str) -> None:
    """Issue 20, finding 7: a call without App Check gets the 401, whatever its body (the
    body was parsed first, and garbage answered 400)."""
    headers = {
        "Content-Type": "application/json",
        "Authorization": "Bearer " + emulator_id_token(PRODUCTION, "user-alice", "cust-a"),
    }
    with production.app.test_client() as client:
        response = client.post(f"/{name}", data=b"{not json" + b"[" * 5000, headers=headers)
    assert_refused((response.status_code, json.loads(response.data)))
    assert production.handled == []
