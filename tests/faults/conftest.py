"""The fault matrix's scenario fixture, its leak check, and its one-line summary."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from tests.functions.conftest import FROZEN_NOW, harness
from tests.functions.enquiry_invariant import number_problems
from tests.functions.harness import Harness
from visn.saga.reconciler import ReconcilerSettings, RunReport, reconcile

__all__ = ["harness"]

MATRIX: dict[str, int] = {"scenarios": 0, "orphans": 0, "leaks": 0, "number_problems": 0}

# Personal details the scenarios send (tests/functions/test_create_booking.booking) and the
# sandbox's client secret: none may appear in any log line.
_NEVER_LOGGED = [
    "Ada",
    "Lovelace",
    "ada@example.com",
    "7700 900123",
    "+447700900123",
    "sandbox-secret",
]


@dataclass
class Scenario:
    harness: Harness
    monkeypatch: pytest.MonkeyPatch
    reports: list[RunReport] = field(default_factory=list)

    def advance(self, minutes: float) -> None:
        """Move the business clock (visn.infra.clock) forward, e.g. past the reconciler's
        timeout."""
        later = FROZEN_NOW + timedelta(minutes=minutes)
        self.monkeypatch.setattr("visn.infra.clock.now", lambda: later)

    def reconcile(self, **settings: Any) -> RunReport:
        report = reconcile(ReconcilerSettings(**settings))
        self.reports.append(report)
        return report

    def live_appointments(self) -> list[dict[str, Any]]:
        return self.harness.appointments("BOOKED")

    def orphans(self) -> list[str]:
        """Live appointments in the sandbox that no BOOKED enquiry points to."""
        booked = {
            e["dms"]["appointmentId"]
            for e in self.harness.docs("enquiries").values()
            if e.get("status") == "BOOKED"
        }
        return [
            a["appointmentId"] for a in self.live_appointments() if a["appointmentId"] not in booked
        ]


@pytest.fixture
def scenario(
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Scenario]:
    caplog.set_level(logging.DEBUG)
    scenario = Scenario(harness, monkeypatch)
    yield scenario
    orphans = scenario.orphans()
    numbering = number_problems(harness.db, held_ok=True)  # open operations hold theirs
    out, err = capsys.readouterr()
    logs = "\n".join([out, err, caplog.text])
    secrets = [*_NEVER_LOGGED, *harness.sandbox.state.issued_tokens()]
    leaks = [s for s in secrets if re.search(rf"(?<!\w){re.escape(s)}(?!\w)", logs)]
    MATRIX["scenarios"] += 1
    MATRIX["orphans"] += len(orphans)
    MATRIX["leaks"] += len(leaks)
    MATRIX["number_problems"] += len(numbering)
    assert orphans == [], f"orphaned appointments: {orphans}"
    assert numbering == [], f"enquiry numbers: {numbering}"
    assert leaks == [], "personal data or secrets in the logs"
    assert not re.search(r"Bearer\s+\S", logs), "a bearer token in the logs"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if MATRIX["scenarios"]:
        terminalreporter.write_line(
            f"fault matrix: {MATRIX['scenarios']} scenarios run, "
            f"{MATRIX['orphans']} orphaned appointments (live in the sandbox, no BOOKED "
            f"enquiry), {MATRIX['leaks']} secrets or personal details in logs, "
            f"{MATRIX['number_problems']} enquiry number problems (duplicates, or drawn and "
            "on no enquiry nor abandoned)"
        )
    if MATRIX.get("bad_inputs"):
        terminalreporter.write_line(
            f"bad input: {MATRIX['bad_inputs']} malformed requests refused, "
            f"{MATRIX['bad_input_upstream_calls']} upstream calls"
        )
