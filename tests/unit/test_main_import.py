"""Importing main.py (what the emulator and a deploy do to discover the functions) does no
I/O and builds no client; heavy libraries load on first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devtools.stack.config import FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import socket, sys
def refuse(*args, **kwargs):
    raise AssertionError("I/O during import: " + repr(args[:2]))
socket.socket.connect = refuse
socket.create_connection = refuse
import main
names = sorted(n for n in dir(main) if hasattr(getattr(main, n), "__firebase_endpoint__"))
print(",".join(names))
heavy = ["google.cloud.firestore", "google.cloud.secretmanager", "pydantic", "grpc"]
print("loaded:" + ",".join(m for m in heavy if m in sys.modules))
"""


def test_import_main_is_cheap_and_offline() -> None:
    done = subprocess.run(  # noqa: S603 (our own interpreter and probe)
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},  # no emulator hosts, no credentials
    )
    assert done.returncode == 0, done.stderr
    functions, loaded = done.stdout.strip().splitlines()[-2:]
    assert functions.split(",") == sorted(FUNCTIONS)
    assert loaded == "loaded:"  # none of the heavy modules
