"""`python -m keyloop check` against the sandbox: the steps it shows, what it really sent, its
hints, and that it never shows a credential or a token."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from devtools.processes import free_port
from devtools.seed import APPOINTMENT_OPTIONS, SERVICE_PRODUCTS
from keyloop import SecretManagerCredentials
from keyloop.__main__ import main
from keyloop.check import CREDENTIALS_READ_HINT, CheckTarget, run_check
from keyloop.models import Store
from tests.ops.conftest import Sandbox

ROOT = Path(__file__).resolve().parents[2]
DAY = "2027-01-12"  # a Tuesday: the UK store is open 08:00-17:00
UK = ["--enterprise", "ENT-1001", "--store", "STORE-01"]
SERVICE = ["--service-product", SERVICE_PRODUCTS["SERVICE"]]

AUTH_HINT = "hint              Keyloop refused the client: check client id/secret"
ENTITLEMENT_HINT = (
    "hint              the app is not entitled to the appointments API product: ask Keyloop "
    "to add it"
)
NOT_FOUND_HINT = "hint              check enterprise/store ids"
UNREACHABLE_HINT = "hint              Keyloop unreachable from here"


def check(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox, *argv: str
) -> tuple[int, list[str]]:
    code = main(["check", *argv])
    captured = capsys.readouterr()
    sandbox.assert_no_credentials_in(captured.out + captured.err)
    return code, captured.out.splitlines()


def step(lines: list[str], operation: str) -> list[str]:
    """The words of the step line for `operation` (token, availability...)."""
    (line,) = [ln for ln in lines if ln[:1].isdigit() and ln.split()[1] == operation]
    return line.split()


def test_success_shows_each_step_and_sends_one_token_and_one_availability_request(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox
) -> None:
    code, lines = check(capsys, sandbox, *UK, *SERVICE, "--date", DAY)

    assert code == 0
    assert lines[:8] == [
        "Keyloop check",
        "  store           enterprise ENT-1001, store STORE-01",
        f"  date            {DAY}",
        f"  products        {SERVICE_PRODUCTS['SERVICE']}",
        "  option          (none)",
        "  times           UTC",
        f"  Keyloop         {sandbox.url}",
        "  credentials     KEYLOOP_CLIENT_ID + KEYLOOP_CLIENT_SECRET from the environment",
    ]
    assert step(lines, "credentials")[:3] == ["1.", "credentials", "read"]
    sent = sandbox.requests()
    assert [(r["endpoint"], r["status"]) for r in sent] == [("token", 200), ("availability", 200)]
    token, availability = step(lines, "token"), step(lines, "availability")
    assert token[:5] == ["2.", "token", "HTTP", "200", "ok"]
    assert availability[:5] == ["3.", "availability", "HTTP", "200", "ok"]
    # The correlation ids shown are the ones Keyloop received.
    assert token[-2:] == ["correlation-id", sent[0]["correlationId"]]
    assert availability[-2:] == ["correlation-id", sent[1]["correlationId"]]
    assert lines[-2] == (
        f"slots             9 free on {DAY}: first 2027-01-12T08:00:00+00:00, "
        "last 2027-01-12T16:00:00+00:00"
    )
    assert lines[-1].split()[0] == "OK"
    assert sandbox.counts() == {"token": 1, "availability": 1}


def test_local_times_and_an_option(capsys: pytest.CaptureFixture[str], sandbox: Sandbox) -> None:
    code, lines = check(
        capsys,
        sandbox,
        *["--enterprise", "ENT-2002", "--store", "STORE-07"],
        *SERVICE,
        *["--service-product", SERVICE_PRODUCTS["TYRE"]],
        *["--option", APPOINTMENT_OPTIONS["COURTESY_CAR"]],
        *["--date", "2027-04-13", "--local-times-zone", "Europe/Dublin"],
    )

    assert code == 0
    assert "  times           store-local, Europe/Dublin (localTimes)" in lines
    assert f"  option          {APPOINTMENT_OPTIONS['COURTESY_CAR']}" in lines
    # The Dublin store opens at 07:30 local, which is 06:30 UTC in April.
    assert lines[-2].startswith("slots             18 free on 2027-04-13: first 2027-04-13T07:30")
    assert "+01:00" in lines[-2]
    assert sandbox.counts() == {"token": 1, "availability": 1}


def test_wrong_secret_fails_with_the_authentication_hint(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYLOOP_CLIENT_SECRET", "not-the-secret")

    code, lines = check(capsys, sandbox, *UK, *SERVICE, "--date", DAY)

    assert code == 1
    assert step(lines, "token")[:5] == ["2.", "token", "HTTP", "401", "KeyloopAuthenticationError"]
    assert step(lines, "availability") == ["3.", "availability", "not", "sent", "(no", "token)"]
    assert "  HTTP status     401" in lines
    assert "  fault code      invalid_client" in lines
    assert lines[-2].startswith(AUTH_HINT)
    assert lines[-1].split()[0] == "FAILED"
    assert "not-the-secret" not in "\n".join(lines)
    assert sandbox.counts() == {"token": 1}


def test_not_entitled_fails_with_the_entitlement_hint(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox
) -> None:
    sandbox.post("config", {"notEntitledClients": ["sandbox-client"]})

    code, lines = check(capsys, sandbox, *UK, *SERVICE, "--date", DAY)

    assert code == 1
    assert step(lines, "token")[:5] == ["2.", "token", "HTTP", "200", "ok"]
    assert step(lines, "availability")[:5] == [
        "3.",
        "availability",
        "HTTP",
        "401",
        "KeyloopNotEntitledError",
    ]
    assert "  fault code      keymanagement.service.InvalidAPICallAsNoApiProductMatchFound" in lines
    (cid,) = [r["correlationId"] for r in sandbox.requests() if r["endpoint"] == "availability"]
    assert f"  correlation-id  {cid}" in lines
    assert lines[-2] == ENTITLEMENT_HINT
    assert sandbox.counts() == {"token": 1, "availability": 1}


def test_unknown_store_fails_with_the_ids_hint(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox
) -> None:
    code, lines = check(
        capsys, sandbox, "--enterprise", "ENT-1001", "--store", "STORE-99", *SERVICE
    )
    assert code == 1
    assert "  fault code      messaging.adaptors.http.flow.ApplicationNotFound" in lines
    assert lines[-2].startswith(NOT_FOUND_HINT)


def test_unknown_service_product_fails_with_the_products_hint(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox
) -> None:
    code, lines = check(capsys, sandbox, *UK, "--service-product", "no-such-product")
    assert code == 1
    assert "  HTTP status     400" in lines
    assert "  fault code      UNKNOWN_SERVICE_PRODUCT" in lines
    assert "service product and option ids belong to this store" in lines[-2]


def test_keyloop_failing_fails_with_the_unreachable_hint(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox
) -> None:
    sandbox.post("faults", {"endpoint": "availability", "status": 503, "count": 3})

    code, lines = check(capsys, sandbox, *UK, *SERVICE, "--date", DAY)

    assert code == 1
    assert step(lines, "availability")[:5] == [
        "3.",
        "availability",
        "HTTP",
        "503",
        "KeyloopUnavailableError",
    ]
    assert lines[-2].startswith(UNREACHABLE_HINT)
    # One logical call, which the client retried twice.
    assert sandbox.counts() == {"token": 1, "availability": 3}


def test_nothing_listening_fails_with_the_unreachable_hint(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYLOOP_BASE_URL", f"http://127.0.0.1:{free_port('127.0.0.1')}")

    code, lines = check(capsys, sandbox, *UK, *SERVICE)

    assert code == 1
    assert step(lines, "token")[:5] == ["2.", "token", "no", "answer", "KeyloopUnavailableError"]
    assert lines[-2].startswith(UNREACHABLE_HINT)


def test_missing_configuration_sends_nothing(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KEYLOOP_CLIENT_SECRET")

    code, lines = check(capsys, sandbox, *UK, *SERVICE)

    assert code == 1
    assert "error             KeyloopConfigurationError: Keyloop client secret is missing" in lines
    assert lines[-2].startswith("hint              set KEYLOOP_BASE_URL")
    assert sandbox.counts() == {}


def test_a_malformed_id_sends_nothing(capsys: pytest.CaptureFixture[str], sandbox: Sandbox) -> None:
    code, lines = check(capsys, sandbox, "--enterprise", "ENT/../1", "--store", "S", *SERVICE)
    assert code == 1
    assert "error             KeyloopInvalidRequestError: invalid Keyloop identifier" in lines
    assert sandbox.counts() == {}


def test_an_unreadable_credentials_secret_shows_only_the_error_class(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox
) -> None:
    def denied(resource: str) -> bytes:
        raise PermissionError(f"{resource} denied; it held sandbox-secret")

    credentials = SecretManagerCredentials("projects/p/secrets/keyloop", accessor=denied)
    target = CheckTarget(
        Store("ENT-1001", "STORE-01"), date(2027, 1, 12), (SERVICE_PRODUCTS["SERVICE"],)
    )
    result = run_check(target, credentials=credentials)
    out = capsys.readouterr().out

    assert not result.ok
    assert step(out.splitlines(), "credentials")[:3] == ["1.", "credentials", "PermissionError"]
    assert f"hint              {CREDENTIALS_READ_HINT}" in out
    sandbox.assert_no_credentials_in(out)
    assert "denied" not in out
    assert sandbox.counts() == {}


def test_as_its_own_process(sandbox: Sandbox) -> None:
    done = subprocess.run(  # noqa: S603 (our own fixed command)
        [sys.executable, "-m", "keyloop", "check", *UK, *SERVICE, "--date", DAY],
        env=dict(os.environ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].split()[0] == "OK"
    sandbox.assert_no_credentials_in(done.stdout + done.stderr)
    assert sandbox.counts() == {"token": 1, "availability": 1}


def test_the_check_stays_pure_keyloop() -> None:
    """keyloop/ imports nothing from Firebase, ViSN or main, the check included."""
    probe = (
        "import sys, keyloop.check, keyloop.__main__; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'visn', 'main', 'firebase_functions', 'firebase_admin'} "
        "or m.startswith('google.cloud.firestore')); print(bad)"
    )
    done = subprocess.run(  # noqa: S603 (our own fixed command)
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]"
