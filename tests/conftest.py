"""Fixtures shared by every suite that needs a real service: the emulator and the sandbox."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.firestore_emulator import FirestoreEmulator
from devtools.processes import StartError
from keyloop_sandbox import SandboxServer, start_sandbox

PROJECT = "demo-visn"


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
