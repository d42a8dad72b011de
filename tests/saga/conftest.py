"""The saga world fixture, and the explorer's table in the terminal summary."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devtools.firestore_emulator import FirestoreEmulator
from tests.functions.conftest import harness
from tests.functions.harness import Harness
from tests.saga.invariants import World
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


@dataclass(frozen=True)
class Interleaving:
    a: str
    index: int
    step: str  # "before ..." or "after ..."
    b: str
    told_a: str
    told_b: str
    end: str
    problems: tuple[str, ...]


ROWS: list[Row] = []
INTERLEAVINGS: list[Interleaving] = []
MODEL: dict[str, int] = {"examples": 0, "calls": 0, "paused": 0}


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


def end_summary(world: World) -> str:
    """The end state in one line, for the explorers' tables."""

    def count(values: list[str]) -> str:
        return ",".join(f"{k}:{n}" for k, n in sorted(Counter(values).items())) or "-"

    return (
        f"live={len(world.live())} "
        f"enq={count([e.get('status', '?') for e in world.enquiries.values()])} "
        f"op={count([o.get('status', '?') for o in world.operations.values()])} "
        f"owed={count([c.get('status', '?') for c in world.compensations.values()])}"
    )


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """The `soak` pairs of the interleaving explorer run only in `make soak` (SAGA_SOAK=1)."""
    if os.environ.get("SAGA_SOAK") == "1":
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]


def _interleavings_table(write: Any) -> None:
    write("")
    write(f"{'A':<15} {'#':>2} {'A paused':<52} {'B':<15} {'A got':<18} {'B got':<24} end state")
    for r in INTERLEAVINGS:
        mark = "  <-- " + "; ".join(r.problems) if r.problems else ""
        write(
            f"{r.a:<15} {r.index:>2} {r.step[:52]:<52} {r.b:<15} {r.told_a[:18]:<18} "
            f"{r.told_b[:24]:<24} {r.end}{mark}"
        )
    bad = sum(len(r.problems) for r in INTERLEAVINGS)
    write(f"interleavings: {len(INTERLEAVINGS)} explored, {bad} invariant violations")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if INTERLEAVINGS:
        _interleavings_table(terminalreporter.write_line)
    if MODEL["examples"]:
        terminalreporter.write_line(
            f"saga model: {MODEL['examples']} examples, {MODEL['calls']} calls "
            f"({MODEL['paused']} paused at a step while others ran), "
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
