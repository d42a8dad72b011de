"""The stack the benchmark runs against, each part in its own process.

The Keyloop sandbox runs as `python -m keyloop_sandbox` in its own process group (in-process it
would share our GIL and slow the very calls we time); the Firestore emulator is the Google
Cloud CLI's. The callables run in the benchmark's own process, configured by environment
variables exactly as in the emulator.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from devtools.firestore_emulator import FirestoreEmulator
from devtools.processes import ProcessGroup, free_port, http_ok
from devtools.seed import seed_firestore

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo-visn"
CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"  # noqa: S105 (the sandbox's public demo credential)
ENTERPRISE_ID = "ENT-1001"
STORE_ID = "STORE-01"
# Room for every booking the run makes in one slot (the default store holds 2 per slot).
STORE_CAPACITY = 100_000
SANDBOX_START_TIMEOUT = 30.0


@dataclass
class Stack:
    sandbox_url: str
    emulator: FirestoreEmulator
    http: requests.Session = field(default_factory=requests.Session)

    def environment(self) -> dict[str, str]:
        """What the functions read, as the emulator would set it."""
        return {
            "GCLOUD_PROJECT": PROJECT,
            "FIRESTORE_EMULATOR_HOST": self.emulator.address,
            # firebase_admin then accepts unsigned emulator ID tokens; nothing listens there.
            "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099",
            "KEYLOOP_BASE_URL": self.sandbox_url,
            "KEYLOOP_CLIENT_ID": CLIENT_ID,
            "KEYLOOP_CLIENT_SECRET": CLIENT_SECRET,
            # One bench user makes thousands of calls: the quotas are charged as deployed
            # (their cost is in the figures) but set too high to refuse any of them.
            "QUOTA_AVAILABILITY_DAYS_PER_USER_PER_MINUTE": "100000000",
            "QUOTA_BOOKINGS_PER_USER_PER_HOUR": "100000000",
            "QUOTA_BOOKINGS_PER_CUSTOMER_PER_HOUR": "100000000",
            "QUOTA_CANCELS_PER_USER_PER_HOUR": "100000000",
            "QUOTA_CANCELS_PER_CUSTOMER_PER_HOUR": "100000000",
            # Figures 1-7 time the path without the availability cache (0 turns it off: every
            # view asks Keyloop). Figure 8 (bench/cache.py) turns it on, misses and hits.
            "AVAILABILITY_CACHE_SECONDS": "0",
        }

    def seed_suppliers(self) -> None:
        from google.cloud import firestore

        db = firestore.Client(project=PROJECT)
        seed_firestore(db)
        db.close()  # type: ignore[no-untyped-call]

    # -- the sandbox's control API ---------------------------------------------------------

    def upstream_counts(self) -> dict[str, int]:
        """Requests the sandbox received so far, per endpoint (token, availability, ...)."""
        response = self.http.get(f"{self.sandbox_url}/_sandbox/requests", timeout=10)
        response.raise_for_status()
        return {k: int(v) for k, v in response.json()["counts"].items()}

    def upstream_total(self) -> int:
        return sum(self.upstream_counts().values())

    def reset_sandbox(self) -> None:
        """Diaries, tokens and the request log back to startup (latency and stores stay)."""
        self.post("reset", {})

    def post(self, path: str, body: Any) -> Any:
        response = self.http.post(f"{self.sandbox_url}/_sandbox/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()


@contextmanager
def running_stack(latency_ms: float, log_dir: Path) -> Iterator[Stack]:
    """Sandbox and emulator up for the block, their process groups stopped after it."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stores = log_dir / "stores.json"
    stores.write_text(
        json.dumps(
            [{"enterpriseId": ENTERPRISE_ID, "storeId": STORE_ID, "capacity": STORE_CAPACITY}]
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = ProcessGroup(
        "keyloop-sandbox",
        [
            sys.executable,
            "-m",
            "keyloop_sandbox",
            "--port",
            str(port),
            "--latency-ms",
            f"{latency_ms:g}",
            "--stores",
            str(stores),
        ],
        log_path=log_dir / "keyloop-sandbox.log",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=ROOT,
    )
    emulator: FirestoreEmulator | None = None
    try:
        emulator = FirestoreEmulator.start(PROJECT, log_dir)  # the sandbox starts meanwhile
        sandbox.wait_until(lambda: http_ok(f"{url}/_sandbox/health"), SANDBOX_START_TIMEOUT)
        stack = Stack(url, emulator)
        try:
            yield stack
        finally:
            stack.http.close()
    finally:
        if emulator is not None:
            emulator.stop()
        sandbox.stop()
