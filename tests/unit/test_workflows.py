"""The pipeline as code (.github/workflows/), checked here since it cannot run here: each
workflow validates against GitHub's workflow schema (check-jsonschema's copy, shipped in its
wheel: no network), and says what docs/decisions.md promises: tests on every pull request with
`make test`, deploys only after them, staging from main, production from a tag behind an
environment, Google credentials by Workload Identity Federation, every action pinned."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
CHECK = Path(sys.executable).parent / "check-jsonschema"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+\.\d+\.\d+|[0-9a-f]{40})$")


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our venv's tool, our files)
        [str(CHECK), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def load(name: str) -> dict[str, Any]:
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def test_every_workflow_validates_against_github_schema() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} == {"test.yml", "deploy.yml"}
    done = validate(*files)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("broken", "why"),
    [
        ("runs-on: ubuntu-24.04", "runs-on: [ubuntu-24.04, {label: 1}]"),
        ("  pull_request:\n", "  pull_requests:\n"),
        ("timeout-minutes: 90", "timeout-minutes: ninety"),
    ],
)
def test_the_schema_check_refuses_a_broken_workflow(tmp_path: Path, broken: str, why: str) -> None:
    text = (WORKFLOWS / "test.yml").read_text()
    assert broken in text
    path = tmp_path / "test.yml"
    path.write_text(text.replace(broken, why, 1))
    done = validate(path)
    assert done.returncode != 0, done.stdout


def test_pull_requests_run_make_test() -> None:
    workflow = load("test.yml")
    assert "pull_request" in workflow["on"]
    assert "workflow_call" in workflow["on"]  # the deploy's first job
    (job,) = workflow["jobs"].values()
    runs = [s["run"] for s in steps(job) if "run" in s]
    assert runs == ["bash .ci/run"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "id-token" not in str(workflow)  # tests get no Google credentials


def test_deploys_follow_the_tests_staging_from_main_production_from_a_tag() -> None:
    workflow = load("deploy.yml")
    assert workflow["on"] == {"push": {"branches": ["main"], "tags": ["v*"]}}
    assert workflow["jobs"]["test"] == {"uses": "./.github/workflows/test.yml"}
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "test"
    assert deploy["environment"] == ("${{ github.ref_type == 'tag' && 'production' || 'staging' }}")
    assert deploy["concurrency"]["cancel-in-progress"] is False
    (last,) = [s for s in steps(deploy) if "run" in s]
    assert last["run"] == 'make deploy PROJECT="$PROJECT"'
    assert last["env"]["PROJECT"] == "${{ vars.FIREBASE_PROJECT }}"


def test_google_credentials_come_from_workload_identity_federation() -> None:
    deploy = load("deploy.yml")["jobs"]["deploy"]
    assert deploy["permissions"]["id-token"] == "write"
    (auth,) = [
        s for s in steps(deploy) if s.get("uses", "").startswith("google-github-actions/auth@")
    ]
    assert set(auth["with"]) == {"workload_identity_provider", "service_account"}
    text = "\n".join(p.read_text() for p in WORKFLOWS.glob("*.yml"))
    for key_file in ("credentials_json", "GOOGLE_APPLICATION_CREDENTIALS", "secrets."):
        assert key_file not in text


def test_every_action_is_pinned_to_a_version() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        for job in load(path.name)["jobs"].values():
            for step in steps(job):
                if "uses" in step:
                    assert PINNED.match(step["uses"]), f"{path.name}: {step['uses']}"
