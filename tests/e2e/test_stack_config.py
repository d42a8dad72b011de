"""The stack's configuration, without starting anything: defaults, generated files, banner."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devtools.seed import DEMO_SUPPLIERS, DEMO_USERS
from devtools.stack.banner import banner, demo_slot
from devtools.stack.config import CALLABLES, ROOT, StackConfig
from devtools.stack.lifecycle import Stack
from devtools.stack.seeding import firestore_value, from_firestore_value
from devtools.stack.staging import emulators_block, stage_functions
from visn.contract.schemas import CreateBookingRequest


def test_committed_emulators_block_holds_the_defaults() -> None:
    committed = json.loads((ROOT / "firebase.json").read_text())
    assert committed["emulators"] == emulators_block(StackConfig(), firestore=True)


def test_makefile_defaults_are_the_stack_defaults() -> None:
    makefile = (ROOT / "Makefile").read_text()
    variables = dict(re.findall(r"^([A-Z_]+) \?= (\S+)$", makefile, flags=re.MULTILINE))
    defaults = StackConfig()
    assert variables["PROJECT"] == defaults.project
    assert variables["DEV_HOST"] == defaults.host
    assert variables["FIRESTORE"] == defaults.firestore
    for name, port in defaults.ports().items():
        assert int(variables[f"{name.upper()}_PORT"]) == port, name
        assert f"--{name}-port $({name.upper()}_PORT)" in makefile


def test_default_ports_do_not_clash() -> None:
    ports = list(StackConfig().ports().values())
    assert len(set(ports)) == len(ports)


@pytest.mark.parametrize("overrides", [{"project": "visn-prod"}, {"auth_port": 5001}])
def test_config_refuses_a_real_project_and_shared_ports(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"demo-|different"):
        StackConfig(**overrides)  # type: ignore[arg-type]


def test_free_ports_config() -> None:
    config = StackConfig.on_free_ports(project="demo-visn-x")
    assert config.project == "demo-visn-x"
    assert len(set(config.ports().values())) == len(config.ports())


def test_staged_source_is_what_a_deploy_uploads_plus_the_venv(tmp_path: Path) -> None:
    source = tmp_path / "project"
    for name in (
        "main.py",
        "requirements.txt",
        "package.json",
        "Makefile",
        ".env",
        ".envrc",
        "x.log",
    ):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text("")
    for name in ("visn", "tests", "node_modules", "venv/bin"):
        (source / name).mkdir(parents=True)
    (source / "venv/bin/activate").write_text("")
    ignore = ["venv", "node_modules", "tests", "*.log", "Makefile", "package.json"]

    into = tmp_path / "run" / "functions"
    staged = stage_functions(source, ignore, into)

    assert staged == [".env", "main.py", "requirements.txt", "venv", "visn"]
    assert all((into / name).is_symlink() for name in staged)
    assert stage_functions(source, ignore, into) == staged  # again, over the first


def test_the_run_config_points_at_the_staged_source(tmp_path: Path) -> None:
    config = StackConfig.on_free_ports(run_dir=tmp_path, firestore="gcloud")
    generated = Stack(config).firebase_config()
    committed = json.loads((ROOT / "firebase.json").read_text())["functions"][0]
    assert generated["functions"] == [{**committed, "source": "functions"}]
    assert generated["emulators"]["functions"]["port"] == config.functions_port
    assert "firestore" not in generated["emulators"]  # the Google Cloud CLI's runs it

    generated = Stack(StackConfig(run_dir=tmp_path, firestore="firebase-tools")).firebase_config()
    assert generated["emulators"]["firestore"] == {"host": "127.0.0.1", "port": 8380}


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 23, 21, 0, tzinfo=UTC), "2026-11-26T09:00:00+00:00"),  # Mon → Thu
        (datetime(2026, 11, 26, 10, 0, tzinfo=UTC), "2026-11-30T09:00:00+00:00"),  # Sun skipped
        (datetime(2027, 4, 9, 12, 0, tzinfo=UTC), "2027-04-12T09:00:00+01:00"),  # summer time
    ],
)
def test_demo_slot_is_an_open_morning_three_days_ahead(now: datetime, expected: str) -> None:
    assert demo_slot(now).isoformat() == expected


def test_firestore_rest_values_round_trip() -> None:
    for document in DEMO_SUPPLIERS.values():
        encoded = {k: firestore_value(v) for k, v in document.items()}
        assert {k: from_firestore_value(v) for k, v in encoded.items()} == document


def test_banner_shows_urls_logins_and_a_valid_booking(tmp_path: Path) -> None:
    stack = Stack(StackConfig(run_dir=tmp_path))
    text = banner(stack, datetime(2026, 11, 23, 21, 0, tzinfo=UTC))
    for name in CALLABLES:
        assert f"http://127.0.0.1:5001/demo-visn/europe-west2/{name}\n" in text
    for user in DEMO_USERS:
        assert f"{user['email']} / {user['password']}" in text
    payload = json.loads(re.findall(r"-d '(\{\"data\".*)'$", text, flags=re.MULTILINE)[0])
    request = CreateBookingRequest.model_validate(payload["data"])
    assert request.slot.start.isoformat() == "2026-11-26T09:00:00+00:00"
    assert 'connectFunctionsEmulator(functions, "127.0.0.1", 5001)' in text


def test_the_console_config_names_this_runs_emulators(tmp_path: Path) -> None:
    config = StackConfig.on_free_ports(run_dir=tmp_path)
    stack = Stack(config)
    console = stack.console_config()
    assert console["functions"] == {"host": "127.0.0.1", "port": config.functions_port}
    assert console["authUrl"] == f"http://127.0.0.1:{config.auth_port}"
    assert console["region"] == "europe-west2"
    assert [u["email"] for u in console["users"]] == [u["email"] for u in DEMO_USERS]
    assert [s["id"] for s in console["suppliers"]] == list(DEMO_SUPPLIERS)
    assert console["suppliers"][1]["serviceTypes"] == ["SERVICE", "MOT", "TYRE"]
    assert stack.console_url == f"http://127.0.0.1:{config.console_port}"
    defaults = banner(Stack(StackConfig(run_dir=tmp_path)))
    assert "Dev console         http://127.0.0.1:5180" in defaults
