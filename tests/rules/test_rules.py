"""Our rules block in a complete rules file, in the Firestore emulator.

Firestore has one rules file per database, and it is ViSN's: ours is a block to merge into it
(firestore/live-diary.rules, merged by devtools.firestore_rules). The tests run on a complete
file, the block merged into a stand-in for ViSN's own rules (devtools/visn-standin.rules):
- rules.test.mjs (node:test, the Web UI's SDK through `@firebase/rules-unit-testing`): our
  collections are closed to every client;
- probe.mjs asks the same questions of ViSN's rules alone and of the merged file: every
  answer outside our collections must be the same (our block opens and closes nothing else).
The Google Cloud CLI's emulator answers 404 to the rules upload rules-unit-testing makes, so
each emulator is started with `--rules=<file>`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.firestore_emulator import FirestoreEmulator
from devtools.firestore_rules import FRAGMENT, STANDIN, assemble, assembled_standin
from devtools.processes import ProcessGroup, StartError
from tests.conftest import _unavailable
from visn.records.namespace import COMPENSATIONS, OPERATIONS, OURS

ROOT = Path(__file__).resolve().parents[2]
SUITE = Path(__file__).resolve().parent
PROJECT = "demo-visn-rules"
NODE_TIMEOUT = 180.0

pytestmark = pytest.mark.emulator

OPS, COMPS = OPERATIONS, COMPENSATIONS
ENQUIRY_A = {"customerId": "cust-a", "status": "BOOKED"}
SEED: dict[str, dict[str, Any]] = {
    "suppliers/keyloop-leeds": {"name": "Leeds", "locale": "en_GB"},
    "enquiries/enq-a1": ENQUIRY_A,
    "enquiries/enq-b1": {"customerId": "cust-b", "status": "BOOKED"},
    "enquiries/enq-a1/history/h1": {"at": "then"},
    "ancillary/counters/enquiryNumber/0": {"count": 7},
    "ancillary/abandonedEnquiries/enquiries/3": {"enquiryNumber": 3},
    "users/alice": {"customerId": "cust-a"},
    "users/bob": {"customerId": "cust-b"},
    "liveDiaryNotes/n1": {"text": "ViSN's, despite the name"},
    "other/x": {"y": 1},
    f"{OPS}/op-a1": {"customerId": "cust-a", "uid": "alice", "status": "COMPLETED"},
    f"{COMPS}/comp-a1": {"customerId": "cust-a", "status": "PENDING"},
}


def _probes() -> list[dict[str, Any]]:
    """Client questions: ViSN's collections (answers must not change) and ours (all denied)."""
    probes: list[dict[str, Any]] = []

    def add(who: str, op: str, path: str, **extra: Any) -> None:
        probes.append({"id": f"{who} {op} {path} {extra}", "who": who, "op": op, "path": path})
        probes[-1].update(extra)

    for who in ("alice", "bob", "nemo", "anon"):
        add(who, "get", "suppliers/keyloop-leeds")
        add(who, "list", "suppliers")
        add(who, "set", "suppliers/new", data={"name": "x"})
        add(who, "get", "enquiries/enq-a1")
        add(who, "query", "enquiries", where=["customerId", "==", "cust-a"])
        add(who, "list", "enquiries")
        add(who, "set", "enquiries/new", data=ENQUIRY_A)
        add(who, "update", "enquiries/enq-a1", data={"status": "CANCELLED"})
        add(who, "get", "enquiries/enq-a1/history/h1")
        add(who, "get", "ancillary/counters/enquiryNumber/0")
        add(who, "list", "ancillary/counters/enquiryNumber")
        add(who, "update", "ancillary/counters/enquiryNumber/0", data={"count": 8})
        add(who, "set", "ancillary/abandonedEnquiries/enquiries/9", data={"enquiryNumber": 9})
        add(who, "get", "users/alice")
        add(who, "set", "users/alice", data={"customerId": "cust-a"})
        add(who, "get", "liveDiaryNotes/n1")
        add(who, "set", "liveDiaryNotes/n2", data={"text": "x"})
        add(who, "get", "other/x")
        for name in OURS:
            add(who, "get", f"{name}/{'op' if name == OPS else 'comp'}-a1")
            add(who, "list", name)
            add(who, "set", f"{name}/new", data={"customerId": "cust-a"})
    return probes


def _ours(probe: dict[str, Any]) -> bool:
    return str(probe["path"]).split("/")[0] in OURS


@pytest.fixture
def emulator_with(tmp_path: Path) -> Iterator[Any]:
    started: list[FirestoreEmulator] = []

    def start(rules_text: str, name: str) -> FirestoreEmulator:
        rules = tmp_path / f"{name}.rules"
        rules.write_text(rules_text)
        try:
            emulator = FirestoreEmulator.start(PROJECT, tmp_path / name, rules=rules)
        except StartError as exc:
            _unavailable("the Firestore emulator", exc)
            raise
        started.append(emulator)
        return emulator

    try:
        yield start
    finally:
        for emulator in started:
            emulator.stop()


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        _unavailable("node", FileNotFoundError("node is not on PATH"))
        raise AssertionError("unreachable")
    if not (ROOT / "node_modules" / "@firebase" / "rules-unit-testing").is_dir():
        _unavailable("node", FileNotFoundError("node_modules is not installed: run make setup"))
    return node


def _run_node(
    argv: list[str], emulator: FirestoreEmulator, log: Path, **env: str
) -> tuple[int | None, str]:
    full_env = {
        **os.environ,
        "FIRESTORE_EMULATOR_HOST": emulator.address,
        "GCLOUD_PROJECT": PROJECT,
        **env,
    }
    # Its own session: node --test runs each file in a child process, stopped with the group.
    group = ProcessGroup("node", [_node(), *argv], log_path=log, env=full_env, cwd=ROOT)
    try:
        code: int | None = group.process.wait(timeout=NODE_TIMEOUT)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        group.stop()
    return code, group.log_path.read_text(errors="replace")


def test_the_fragment_matches_only_our_collections() -> None:
    fragment = FRAGMENT.read_text()
    matched = re.findall(r"^\s*match\s+/([^/{}\s]+)/", fragment, re.M)
    assert sorted(matched) == sorted(OURS)
    assert "service cloud.firestore" not in fragment  # a block, never a whole rules file
    assert "rules_version" not in fragment
    assert not re.search(r"allow[^;]*:\s*if\s+(?!false\s*;)", fragment), "the block allows"


def test_merging_twice_or_into_an_unknown_shape_is_refused() -> None:
    merged = assembled_standin()
    with pytest.raises(ValueError, match="already"):
        assemble(merged, FRAGMENT.read_text())
    with pytest.raises(ValueError, match="exactly one"):
        assemble("service cloud.firestore {}", FRAGMENT.read_text())


def test_our_block_in_force_in_the_merged_file(emulator_with: Any, tmp_path: Path) -> None:
    emulator = emulator_with(assembled_standin(), "merged")
    code, output = _run_node(
        ["--test", str(SUITE.relative_to(ROOT) / "rules.test.mjs")],
        emulator,
        tmp_path / "node-test.log",
        OUR_COLLECTIONS=",".join(OURS),
    )
    print(output)  # pytest shows it under "Captured stdout call" when the test fails
    failed = "\n".join(line for line in output.splitlines() if "not ok" in line)
    assert code is not None, f"node --test still running after {NODE_TIMEOUT:.0f}s"
    assert code == 0, f"node --test exited {code}; failed:\n{failed}"
    # A green run that ran nothing (a renamed file, a bad path) is not a pass.
    counts = {k: int(v) for k, v in re.findall(r"^# (tests|pass|fail) (\d+)$", output, re.M)}
    assert counts.get("tests", 0) > 0, "node --test ran no tests"
    assert counts.get("fail") == 0, failed
    assert counts.get("pass") == counts["tests"], f"not every test passed: {counts}"


def _answers(emulator: FirestoreEmulator, tmp_path: Path, name: str) -> dict[str, str]:
    probes = [{**p, "seed": SEED} for p in _probes()]
    code, output = _run_node(
        [str(SUITE / "probe.mjs"), json.dumps(probes)], emulator, tmp_path / f"{name}.log"
    )
    assert code == 0, output
    answers: dict[str, str] = json.loads(output.strip().splitlines()[-1])
    return answers


def test_our_block_opens_and_closes_nothing_outside_our_collections(
    emulator_with: Any, tmp_path: Path
) -> None:
    alone = _answers(emulator_with(STANDIN.read_text(), "visn"), tmp_path, "visn")
    merged = _answers(emulator_with(assembled_standin(), "merged"), tmp_path, "merged")

    probes = _probes()
    assert set(alone) == set(merged) == {p["id"] for p in probes}
    theirs = [p["id"] for p in probes if not _ours(p)]
    # The stand-in both allows and denies: the comparison can tell a change either way.
    assert {alone[i] for i in theirs} == {"allow", "deny"}
    changed = {i: (alone[i], merged[i]) for i in theirs if alone[i] != merged[i]}
    assert changed == {}
    assert {merged[p["id"]] for p in probes if _ours(p)} == {"deny"}
