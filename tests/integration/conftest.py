"""Fixtures of the integration tests.

`keyloop_sandbox` (one in-process Keyloop sandbox for the session) comes from tests/conftest.py.
`keyloop_sandbox_reset` is that sandbox, first reset to its startup state; not autouse, so tests
that do not ask for it never touch the sandbox.
"""

from __future__ import annotations

import pytest
import requests

from keyloop_sandbox import SandboxServer


@pytest.fixture
def keyloop_sandbox_reset(keyloop_sandbox: SandboxServer) -> SandboxServer:
    response = requests.post(f"{keyloop_sandbox.url}/_sandbox/reset", timeout=5)
    response.raise_for_status()
    return keyloop_sandbox
