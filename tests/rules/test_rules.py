"""firestore.rules in the Firestore emulator: runs the node:test suite beside this file.

The rules are a client-side contract, so they are tested with the Web UI's own SDK
(`@firebase/rules-unit-testing` over `firebase/firestore`). The Google Cloud CLI's emulator
answers 404 to the rules upload that rules-unit-testing makes, so it is started with
`--rules=firestore.rules` instead; the suite's first test proves they are in force.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.firestore_emulator import FirestoreEmulator
from devtools.processes import ProcessGroup, StartError
from tests.conftest import _unavailable

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "firestore.rules"
SUITE = Path(__file__).resolve().parent
PROJECT = "demo-visn-rules"
NODE_TIMEOUT = 180.0

pytestmark = pytest.mark.emulator


@pytest.fixture
def rules_emulator(tmp_path: Path) -> Iterator[FirestoreEmulator]:
    try:
        emulator = FirestoreEmulator.start(PROJECT, tmp_path, rules=RULES)
    except StartError as exc:
        _unavailable("the Firestore emulator", exc)
        raise
    try:
        yield emulator
    finally:
        emulator.stop()


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        _unavailable("node", FileNotFoundError("node is not on PATH"))
        raise AssertionError("unreachable")
    if not (ROOT / "node_modules" / "@firebase" / "rules-unit-testing").is_dir():
        _unavailable("node", FileNotFoundError("node_modules is not installed: run make setup"))
    return node


def test_firestore_rules(rules_emulator: FirestoreEmulator, tmp_path: Path) -> None:
    node = _node()
    env = {
        **os.environ,
        "FIRESTORE_EMULATOR_HOST": rules_emulator.address,
        "FIRESTORE_RULES_PRELOADED": "1",
        "GCLOUD_PROJECT": PROJECT,
    }
    # Its own session: node --test runs each file in a child process, stopped with the group.
    group = ProcessGroup(
        "node --test",
        [node, "--test", str(SUITE.relative_to(ROOT)) + "/"],
        log_path=tmp_path / "node-test.log",
        env=env,
        cwd=ROOT,
    )
    try:
        code: int | None = group.process.wait(timeout=NODE_TIMEOUT)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        group.stop()
    output = group.log_path.read_text(errors="replace")
    print(output)  # pytest shows it under "Captured stdout call" when the test fails
    failed = "\n".join(line for line in output.splitlines() if "not ok" in line)
    assert code is not None, f"node --test still running after {NODE_TIMEOUT:.0f}s"
    assert code == 0, f"node --test exited {code}; failed:\n{failed}"
    # A green run that ran nothing (a renamed file, a bad path) is not a pass.
    counts = {k: int(v) for k, v in re.findall(r"^# (tests|pass|fail) (\d+)$", output, re.M)}
    assert counts.get("tests", 0) > 0, "node --test ran no tests"
    assert counts.get("fail") == 0, failed
    assert counts.get("pass") == counts["tests"], f"not every test passed: {counts}"
