"""The committed firebase.json deploys: firebase-tools takes the root for a Python codebase
(a package.json there would make it Node) and discovers every function with its options."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_deploy_discovers_the_python_functions() -> None:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "firebase-tools").is_dir():
        pytest.fail("node and firebase-tools are needed: run make setup")
    done = subprocess.run(  # noqa: S603 (our own script)
        [node, str(ROOT / "tests/e2e/deploy_discovery.cjs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert (found["language"], found["runtime"]) == ("python", "python311")
    endpoints = found["endpoints"]
    assert set(endpoints) == {
        "getAvailability",
        "createBooking",
        "cancelBooking",
        "rearrangeBooking",
        "reconcileBookings",
        "keyloopEvents",
        "syncDmsBookings",
    }
    assert {e["region"][0] for e in endpoints.values()} == {"europe-west2"}
    assert endpoints["createBooking"]["trigger"] == "callableTrigger"
    assert endpoints["reconcileBookings"]["trigger"] == "scheduleTrigger"
    assert endpoints["createBooking"]["secrets"] == ["KEYLOOP_CLIENT_ID", "KEYLOOP_CLIENT_SECRET"]
    assert endpoints["createBooking"]["maxInstances"] == 10
    assert endpoints["keyloopEvents"]["trigger"] == "httpsTrigger"
    assert "KEYLOOP_EVENTS_SECRET" in endpoints["keyloopEvents"]["secrets"]
    assert "KEYLOOP_EVENTS_SECRET" not in endpoints["createBooking"]["secrets"]
    assert endpoints["syncDmsBookings"]["trigger"] == "scheduleTrigger"
