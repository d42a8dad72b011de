"""Runs one of our Node scripts over firebase-tools' own code (offline) and reads its JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_script(script: str, *args: str, timeout: float) -> dict[str, Any]:
    """`node tests/e2e/SCRIPT ARGS…` from the root; its last stdout line, parsed."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "firebase-tools").is_dir():
        pytest.fail("node and firebase-tools are needed: run make setup")
    done = subprocess.run(  # noqa: S603 (our own script)
        [node, str(ROOT / "tests" / "e2e" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
