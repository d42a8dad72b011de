"""A clean stack per test: the Firestore emulator wiped, the sandbox reset, the clock pinned."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from google.cloud import firestore

from devtools.firestore_emulator import FirestoreEmulator
from devtools.seed import seed_firestore
from keyloop_sandbox import SandboxServer
from tests.functions.events_endpoint import EVENTS_SECRET, EventsEndpoint
from tests.functions.harness import PROJECT, Harness, callable_app
from visn.access import quotas
from visn.infra import clients
from visn.records import suppliers

# A Monday in winter: every date the tests book is within the 180-day window, both a GMT
# date (2027-01-12) and a BST one (2027-04-13).
FROZEN_NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def harness(
    firestore_emulator: FirestoreEmulator,
    keyloop_sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Harness]:
    for name, value in {
        "GCLOUD_PROJECT": PROJECT,
        "FIRESTORE_EMULATOR_HOST": firestore_emulator.address,
        # firebase_admin then accepts the emulator's unsigned ID tokens; nothing listens there.
        "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099",
        "KEYLOOP_BASE_URL": keyloop_sandbox.url,
        "KEYLOOP_CLIENT_ID": "sandbox-client",
        "KEYLOOP_CLIENT_SECRET": "sandbox-secret",
        "KEYLOOP_READ_TIMEOUT_MS": "2000",
        "FIRESTORE_TIMEOUT_MS": "3000",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("visn.infra.clock.now", lambda: FROZEN_NOW)
    firestore_emulator.wipe()
    keyloop_sandbox_reset(keyloop_sandbox)
    clients.reset()
    suppliers.suppliers.clear()
    quotas.availability_counters.clear()
    db = firestore.Client(project=PROJECT)
    seed_firestore(db)
    harness = Harness(callable_app(), keyloop_sandbox, db)
    yield harness
    harness.http.close()
    clients.reset()


def keyloop_sandbox_reset(sandbox: SandboxServer) -> None:
    import requests

    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5).raise_for_status()


@pytest.fixture
def events(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[EventsEndpoint]:
    """keyloopEvents on a real socket, with the sandbox subscribed to it (as Keyloop would be)."""
    monkeypatch.setenv("KEYLOOP_EVENTS_SECRET", EVENTS_SECRET)
    endpoint = EventsEndpoint()
    harness.sandbox_post("subscriptions", {"url": endpoint.url, "secret": EVENTS_SECRET})
    yield endpoint
    harness.http.delete(f"{harness.sandbox.url}/_sandbox/subscriptions", timeout=5)
    endpoint.close()
