"""Fixtures shared by every suite that needs a real service: the emulator, the sandbox, and the
whole local stack."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devtools.firestore_emulator import FirestoreEmulator
from devtools.processes import StartError, group_alive
from keyloop_sandbox import SandboxServer, start_sandbox

# App Check and CORS of the callables are set up when main loads, from the project id
# (visn.access.gate): the suites load it as the local `demo-` project, as the emulator does.
# tests/functions/test_app_check.py loads it again as a production project.
os.environ.setdefault("GCLOUD_PROJECT", "demo-visn")

if TYPE_CHECKING:
    from devtools.stack.lifecycle import Stack

# Every structured log line of the session, kept for the alerts test (tests/ops/test_alerts.py).
pytest_plugins = ["tests.logcapture"]

PROJECT = "demo-visn"
STACK_PROJECT = "demo-visn-e2e"


def _unavailable(what: str, exc: Exception) -> None:
    # In CI a missing emulator is a failure, never a silent skip.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} could not start: {exc}")
    pytest.skip(f"{what} could not start: {exc}")


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirestoreEmulator]:
    log_dir = Path(tmp_path_factory.mktemp("emulator-logs"))
    try:
        emulator = FirestoreEmulator.start(PROJECT, log_dir)
    except StartError as exc:
        _unavailable("the Firestore emulator", exc)
        raise
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def keyloop_sandbox() -> Iterator[SandboxServer]:
    server = start_sandbox()
    yield server
    server.close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack `make dev` runs, on free ports, once for the session: tests/e2e and
    tests/browser share it (each of their journeys leaves nothing booked).

    A stack that cannot start fails the tests, locally as in CI: proving that it starts and that
    the emulator loads every callable is what the end-to-end tests are for."""
    from devtools.stack.config import StackConfig
    from devtools.stack.lifecycle import Stack

    config = StackConfig.on_free_ports(
        project=STACK_PROJECT, run_dir=tmp_path_factory.mktemp("stack-run")
    )
    stack = Stack(config)
    try:
        stack.start()
    except StartError as exc:
        pytest.fail(f"the local stack could not start: {exc}", pytrace=False)
    groups = stack.process_groups()
    yield stack
    held = stack.stop()
    assert held == [], f"ports still held after stop: {held}"
    assert [g for g in groups if group_alive(g)] == [], "a process group outlived the stack"


@pytest.fixture(autouse=True)
def _fresh_availability_quota() -> None:
    """Each test starts with no day-fetches counted: most tests pin the clock to one instant,
    so one minute's in-memory counters would otherwise span the whole session."""
    from visn.access import quotas

    quotas.availability_counters.clear()
