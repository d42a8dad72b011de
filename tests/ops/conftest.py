"""Fixtures for the operator commands: a reset sandbox with its credentials in the
environment, and an empty Firestore emulator named by the environment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.cloud import firestore

from devtools.firestore_emulator import FirestoreEmulator
from keyloop_sandbox import SandboxServer
from tests.conftest import PROJECT
from visn.infra import clients

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"


class Sandbox:
    """The in-process sandbox, seen from a test: control calls and what it was sent."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.url = server.url

    def post(self, path: str, body: Any) -> None:
        requests.post(f"{self.url}/_sandbox/{path}", json=body, timeout=5).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/_sandbox/requests", timeout=5)
        response.raise_for_status()
        return list(response.json()["requests"])

    def counts(self) -> dict[str, int]:
        response = requests.get(f"{self.url}/_sandbox/requests", timeout=5)
        response.raise_for_status()
        return {k: v for k, v in response.json()["counts"].items() if v}

    def assert_no_credentials_in(self, text: str) -> None:
        """Neither the secret, the client id, nor any token the sandbox issued."""
        assert CLIENT_SECRET not in text
        assert CLIENT_ID not in text
        tokens = self.server.state.issued_tokens()
        for token in tokens:
            assert token not in text


@pytest.fixture
def sandbox(keyloop_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The sandbox reset, and the environment pointing the commands at it."""
    requests.post(f"{keyloop_sandbox.url}/_sandbox/reset", timeout=5).raise_for_status()
    monkeypatch.setenv("KEYLOOP_BASE_URL", keyloop_sandbox.url)
    monkeypatch.setenv("KEYLOOP_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("KEYLOOP_CLIENT_SECRET", CLIENT_SECRET)
    for name in ("KEYLOOP_CREDENTIALS_SECRET", "KEYLOOP_CONNECT_TIMEOUT_MS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEYLOOP_READ_TIMEOUT_MS", "2000")
    return Sandbox(keyloop_sandbox)


@pytest.fixture
def firestore_env(
    firestore_emulator: FirestoreEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[firestore.Client]:
    """An empty emulator named by GCLOUD_PROJECT + FIRESTORE_EMULATOR_HOST; a client on it."""
    monkeypatch.setenv("GCLOUD_PROJECT", PROJECT)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.address)
    firestore_emulator.wipe()
    clients.reset()
    yield firestore.Client(project=PROJECT)
    clients.reset()
