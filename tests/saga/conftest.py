"""The saga world fixture, and the explorer's table in the terminal summary."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devtools.firestore_emulator import FirestoreEmulator
from tests.functions.conftest import harness
from tests.functions.harness import Harness
from tests.saga.steps import StepRecorder, patched
from tests.saga.world import SagaWorld

__all__ = ["harness"]


@dataclass(frozen=True)
class Row:
    flow: str
    index: int
    step: str
    fault: str
    told: str
    end: str
    problems: tuple[str, ...]


ROWS: list[Row] = []
MODEL: dict[str, int] = {"examples": 0, "calls": 0}


@pytest.fixture
def saga_world(
    harness: Harness, firestore_emulator: FirestoreEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SagaWorld]:
    # Short Keyloop timeouts: a stalled answer is given up on quickly, as in production.
    monkeypatch.setenv("KEYLOOP_READ_TIMEOUT_MS", "300")
    with patched(StepRecorder(harness.sandbox.url)) as recorder:
        world = SagaWorld(harness, firestore_emulator, monkeypatch, recorder)
        world.reset()
        yield world


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if MODEL["examples"]:
        terminalreporter.write_line(
            f"saga model: {MODEL['examples']} examples, {MODEL['calls']} calls, "
            "invariants checked after every step"
        )
    if not ROWS:
        return
    write = terminalreporter.write_line
    write("")
    write(f"{'flow':<11} {'#':>2} {'step':<58} {'fault':<24} {'caller got':<22} end state")
    for row in ROWS:
        mark = "  <-- " + "; ".join(row.problems) if row.problems else ""
        write(
            f"{row.flow:<11} {row.index:>2} {row.step[:58]:<58} {row.fault:<24} "
            f"{row.told[:22]:<22} {row.end}{mark}"
        )
    bad = sum(len(r.problems) for r in ROWS)
    write(f"step faults: {len(ROWS)} explored, {bad} invariant violations")
