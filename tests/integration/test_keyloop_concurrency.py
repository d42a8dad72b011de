"""KeyloopSettings.max_concurrent_calls: one client never has more requests in flight."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import requests

from keyloop import KeyloopClient, KeyloopSettings, StaticCredentials, Store
from keyloop.transport import new_session
from keyloop_sandbox import SandboxServer
from keyloop_sandbox.config import SERVICE_PRODUCT_IDS

STORE = Store("ENT-1001", "STORE-01")


def _max_in_flight(sandbox: SandboxServer, limit: int | None, calls: int) -> int:
    requests.post(f"{sandbox.url}/_sandbox/latency", json={"ms": 60}, timeout=5).raise_for_status()
    settings = KeyloopSettings(sandbox.url, max_concurrent_calls=limit)
    session = new_session(settings)
    adapter = session.get_adapter(sandbox.url)
    real_send = adapter.send
    lock = threading.Lock()
    now = peak = 0

    def counting_send(*args: Any, **kwargs: Any) -> Any:  # what reaches the wire, counted
        nonlocal now, peak
        with lock:
            now += 1
            peak = max(peak, now)
        try:
            return real_send(*args, **kwargs)
        finally:
            with lock:
                now -= 1

    adapter.send = counting_send  # type: ignore[method-assign]
    client = KeyloopClient(
        settings, StaticCredentials("sandbox-client", "sandbox-secret"), session=session
    )
    day = date(2027, 1, 12)
    threads = [
        threading.Thread(
            target=client.availability,
            args=(STORE, day + timedelta(days=i % 7), [SERVICE_PRODUCT_IDS[0]], None),
        )
        for i in range(calls)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        client.close()
        requests.post(f"{sandbox.url}/_sandbox/latency", json={"ms": 0}, timeout=5)
    return peak


def test_calls_in_flight_are_capped(keyloop_sandbox_reset: SandboxServer) -> None:
    assert _max_in_flight(keyloop_sandbox_reset, limit=3, calls=12) <= 3


def test_without_a_cap_they_are_not(keyloop_sandbox_reset: SandboxServer) -> None:
    # The same load uncapped goes wider: the cap above is what held it to 3.
    assert _max_in_flight(keyloop_sandbox_reset, limit=None, calls=12) > 3
