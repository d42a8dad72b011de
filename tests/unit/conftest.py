from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from keyloop import KeyloopClient, KeyloopSettings, StaticCredentials
from tests.unit.support import BASE, SECRET, FakeClock


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """urllib3's back-off sleeps, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr("urllib3.util.retry.time.sleep", slept.append)
    return slept


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> Iterator[KeyloopClient]:
    settings = KeyloopSettings(BASE, backoff_factor=0.1, backoff_jitter=0.0, retry_after_max=5)
    c = KeyloopClient(settings, StaticCredentials("client-1", SECRET), clock=clock)
    yield c
    c.close()
