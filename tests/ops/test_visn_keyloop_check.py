"""`python -m visn keyloop-check`: the supplier as Firestore holds it, checked against the
sandbox with the ids a booking would use."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from google.cloud import firestore

from devtools.seed import (
    APPOINTMENT_OPTIONS,
    DEMO_SUPPLIERS,
    IE_SUPPLIER,
    NO_DIARY_SUPPLIER,
    SERVICE_PRODUCTS,
    UK_SUPPLIER,
)
from tests.ops.conftest import Sandbox
from visn.__main__ import main

DAY = "2027-01-12"


@pytest.fixture
def seeded(firestore_env: firestore.Client, sandbox: Sandbox) -> firestore.Client:
    for supplier_id, document in DEMO_SUPPLIERS.items():
        firestore_env.collection("suppliers").document(supplier_id).set(document)
    return firestore_env


def run(capsys: pytest.CaptureFixture[str], sandbox: Sandbox, *argv: str) -> tuple[int, list[str]]:
    code = main(["keyloop-check", *argv])
    captured = capsys.readouterr()
    sandbox.assert_no_credentials_in(captured.out + captured.err)
    return code, captured.out.splitlines()


def availability_paths(sandbox: Sandbox) -> list[str]:
    return [r["path"] for r in sandbox.requests() if r["endpoint"] == "availability"]


def test_a_seeded_supplier_checks_ok_with_its_first_service(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox, seeded: firestore.Client
) -> None:
    code, lines = run(capsys, sandbox, "--supplier", UK_SUPPLIER, "--date", DAY)

    assert code == 0
    assert lines[1] == (
        f"supplier          {UK_SUPPLIER} (Europe/London): SERVICE -> service product "
        f"{SERVICE_PRODUCTS['SERVICE']}"
    )
    assert "  store           enterprise ENT-1001, store STORE-01" in lines
    assert "  option          (none)" in lines
    assert lines[-1].split()[0] == "OK"
    assert availability_paths(sandbox) == [
        "/appointment/ENT-1001/STORE-01/v1/appointments/availability"
    ]
    assert sandbox.counts() == {"token": 1, "availability": 1}


def test_local_times_supplier_with_a_chosen_service_and_option(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox, seeded: firestore.Client
) -> None:
    code, lines = run(
        capsys,
        sandbox,
        *["--supplier", IE_SUPPLIER, "--date", "2027-04-13"],
        *["--service-type", "TYRE", "--optional-service", "COURTESY_CAR"],
    )

    assert code == 0
    assert lines[1] == (
        f"supplier          {IE_SUPPLIER} (Europe/Dublin): TYRE -> service product "
        f"{SERVICE_PRODUCTS['TYRE']}, COURTESY_CAR -> option {APPOINTMENT_OPTIONS['COURTESY_CAR']}"
    )
    assert "  times           store-local, Europe/Dublin (localTimes)" in lines
    assert lines[-2].startswith("slots             18 free on 2027-04-13: first 2027-04-13T07:30")
    assert availability_paths(sandbox) == [
        "/appointment/ENT-2002/STORE-07/v1/appointments/availability"
    ]


def test_the_default_date_is_today_for_the_supplier(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox, seeded: firestore.Client
) -> None:
    code, lines = run(capsys, sandbox, "--supplier", UK_SUPPLIER)
    assert code == 0
    assert sandbox.counts() == {"token": 1, "availability": 1}
    assert lines[-1].split()[0] == "OK"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--supplier", IE_SUPPLIER, "--service-type", "REPAIR"],
            "FAILED: the supplier does not map REPAIR (it maps SERVICE, MOT, TYRE)",
        ),
        (
            ["--supplier", IE_SUPPLIER, "--optional-service", "WHILE_YOU_WAIT"],
            "FAILED: the supplier does not map WHILE_YOU_WAIT (it maps COURTESY_CAR)",
        ),
        (
            ["--supplier", NO_DIARY_SUPPLIER],
            f"FAILED: suppliers/{NO_DIARY_SUPPLIER} has no usable KEYLOOP liveDiaryProvider "
            "block, so the functions answer NO_LIVE_DIARY for it; fix it with `python -m visn "
            "suppliers import`",
        ),
        (["--supplier", "keyloop-nowhere"], "no document suppliers/keyloop-nowhere in project"),
        (["--supplier", "../etc"], "--supplier must be 1 to 128 letters, digits, '_' or '-'"),
    ],
)
def test_what_cannot_be_checked_fails_before_keyloop(
    capsys: pytest.CaptureFixture[str],
    sandbox: Sandbox,
    seeded: firestore.Client,
    argv: list[str],
    message: str,
) -> None:
    code, lines = run(capsys, sandbox, *argv)
    assert code == 1
    assert lines[-1].startswith(message)
    assert sandbox.counts() == {}


def test_a_broken_stored_config_is_explained(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox, seeded: firestore.Client
) -> None:
    document: dict[str, Any] = copy.deepcopy(DEMO_SUPPLIERS[UK_SUPPLIER])
    document["timezone"] = "Europe/Leeds"
    document["liveDiaryProvider"]["supplierMappingId"] = "STORE 01"
    seeded.collection("suppliers").document(UK_SUPPLIER).set(document)

    code, lines = run(capsys, sandbox, "--supplier", UK_SUPPLIER)

    assert code == 1
    assert lines[1:3] == [
        'config: $.timezone: "Europe/Leeds" is not an IANA time zone name (e.g. Europe/London)',
        "config: $.liveDiaryProvider.supplierMappingId: must be a Keyloop id: 1 to 128 letters, "
        "digits, '.', '_', ':' or '-', starting with a letter or digit, without '..'",
    ]
    assert lines[-1].startswith(f"FAILED: suppliers/{UK_SUPPLIER} has no usable KEYLOOP")
    assert sandbox.counts() == {}


def test_wrong_secret_fails_with_the_authentication_hint(
    capsys: pytest.CaptureFixture[str],
    sandbox: Sandbox,
    seeded: firestore.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEYLOOP_CLIENT_SECRET", "not-the-secret")
    code, lines = run(capsys, sandbox, "--supplier", UK_SUPPLIER, "--date", DAY)
    assert code == 1
    assert lines[-2].startswith("hint              Keyloop refused the client: check client id")
    assert lines[-1].split()[0] == "FAILED"
    assert "not-the-secret" not in "\n".join(lines)


def test_onboarding_end_to_end_import_then_check(
    capsys: pytest.CaptureFixture[str],
    sandbox: Sandbox,
    firestore_env: firestore.Client,
) -> None:
    from tests.ops.test_onboarding import EXAMPLE

    assert main(["suppliers", "import", str(EXAMPLE)]) == 0
    capsys.readouterr()
    code, lines = run(capsys, sandbox, "--supplier", "keyloop-dublin", "--date", "2027-04-13")
    assert code == 0
    assert lines[-1].split()[0] == "OK"
