"""End to end: the functions in firebase-tools' emulator, called as the Web UI calls them.

The journeys run in Node with the official `firebase` package (journeys.test.mjs); the raw
callable protocol is checked here with plain HTTP.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.processes import StartError, group_alive
from devtools.seed import UK_SUPPLIER
from devtools.stack.config import CALLABLES, ROOT, StackConfig
from devtools.stack.lifecycle import Stack

NODE_TIMEOUT = 300  # a guard against a hang, not a performance bound


def test_the_emulator_loaded_every_callable(stack: Stack) -> None:
    assert set(CALLABLES) <= stack.loaded_callables()
    for name in CALLABLES:
        assert stack.serves_callable(name), name


def id_token(stack: Stack, user: dict[str, str]) -> str:
    response = requests.post(
        f"{stack.auth_url}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword",
        params={"key": "any"},
        json={"email": user["email"], "password": user["password"], "returnSecureToken": True},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["idToken"])


def test_a_signed_in_raw_call_gets_a_result(stack: Stack) -> None:
    response = requests.post(
        stack.callable_url("getAvailability"),
        json={"data": {"supplierId": UK_SUPPLIER, "date": "2099-01-01", "serviceTypes": ["MOT"]}},
        headers={"Authorization": f"Bearer {id_token(stack, stack.users[0])}"},
        timeout=30,
    )
    # More than 180 days ahead: the protocol's error shape, with our reason and fields.
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["details"]["reason"] == "VALIDATION"
    assert [f["path"] for f in error["details"]["fields"]] == ["date"]


# What firebase_functions' on_call answers before our code runs (the callable protocol), to a
# signed-in caller: since issue 20 the tokens are verified before anything else is looked at.
RAW_CASES: dict[str, tuple[dict[str, Any], int, str]] = {
    "wrong method": ({"method": "GET"}, 400, "INVALID_ARGUMENT"),
    "wrong content type": (
        {"method": "POST", "data": '{"data": {}}', "headers": {"Content-Type": "text/plain"}},
        400,
        "INVALID_ARGUMENT",
    ),
    "body without data": (
        {"method": "POST", "json": {"date": "2027-01-12"}},
        400,
        "INVALID_ARGUMENT",
    ),
    "bearer token not a JWT": (
        {"method": "POST", "json": {"data": {}}, "headers": {"Authorization": "Bearer not-a-jwt"}},
        401,
        "UNAUTHENTICATED",
    ),
}


@pytest.mark.parametrize("case", RAW_CASES)
def test_raw_callable_protocol(stack: Stack, case: str) -> None:
    request, status, code = RAW_CASES[case]
    headers = request.get("headers", {})
    if "Authorization" not in headers:
        token = id_token(stack, stack.users[0])
        request = {**request, "headers": {**headers, "Authorization": f"Bearer {token}"}}
    response = requests.request(url=stack.callable_url("createBooking"), timeout=30, **request)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["status"] == code
    # The protocol's own refusals carry no details (docs/api.md: "no reason").
    assert "details" not in error


def test_js_sdk_journeys(stack: Stack) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    done = subprocess.run(  # noqa: S603 (our own fixed command)
        [node, "--test", "tests/e2e/"],
        cwd=ROOT,
        env={**os.environ, "VISN_STACK": json.dumps(stack.describe())},
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"node --test failed:\n{output}"
    assert "# fail 0" in output


class _MismatchedRuntimeStack(Stack):
    """firebase.json names a Python other than the venv's: firebase-tools loads nothing (and
    on its own would still report "All emulators ready!")."""

    started_groups: list[int]

    def firebase_config(self) -> dict[str, Any]:
        config = super().firebase_config()
        config["functions"][0]["runtime"] = "python312"
        return config

    def _wait_for_functions(self) -> None:
        self.started_groups = self.process_groups()
        super()._wait_for_functions()


def test_a_stack_whose_callables_did_not_load_fails_and_cleans_up(tmp_path: Path) -> None:
    config = StackConfig.on_free_ports(project="demo-visn-e2e-broken", run_dir=tmp_path)
    stack = _MismatchedRuntimeStack(config)
    with pytest.raises(StartError, match="callables not loaded: getAvailability"):
        stack.start()
    assert stack.held_ports() == []
    assert len(stack.started_groups) == 2, "the sandbox and firebase-tools had started"
    assert [g for g in stack.started_groups if group_alive(g)] == []
