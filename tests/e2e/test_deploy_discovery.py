"""The committed firebase.json deploys: firebase-tools takes the root for a Python codebase
(a package.json there would make it Node) and discovers every function with its options; and
what each function will run with agrees with itself (gunicorn's THREADS and concurrency)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devtools.stack.config import FUNCTIONS
from tests.e2e.firebase_tools import run_script
from visn.entry.runtime import CONCURRENCY

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def found() -> dict[str, Any]:
    return run_script("deploy_discovery.cjs", timeout=120)


def test_deploy_discovers_the_python_functions(found: dict[str, Any]) -> None:
    assert (found["language"], found["runtime"]) == ("python", "python311")
    endpoints = found["endpoints"]
    assert set(endpoints) == set(FUNCTIONS)
    assert {e["region"][0] for e in endpoints.values()} == {"europe-west2"}
    assert endpoints["createBooking"]["trigger"] == "callableTrigger"
    assert endpoints["reconcileBookings"]["trigger"] == "scheduleTrigger"
    assert endpoints["createBooking"]["secrets"] == ["KEYLOOP_CLIENT_ID", "KEYLOOP_CLIENT_SECRET"]
    assert endpoints["createBooking"]["maxInstances"] == 10
    assert endpoints["keyloopEvents"]["trigger"] == "httpsTrigger"
    assert "KEYLOOP_EVENTS_SECRET" in endpoints["keyloopEvents"]["secrets"]
    assert "KEYLOOP_EVENTS_SECRET" not in endpoints["createBooking"]["secrets"]
    assert endpoints["syncDmsBookings"]["trigger"] == "scheduleTrigger"


def test_gunicorn_threads_match_each_functions_concurrency(found: dict[str, Any]) -> None:
    """Cloud Run sends an instance up to `concurrency` requests at once; functions-framework
    serves them with THREADS gunicorn threads (its default is 4 per CPU). The deploy's own
    environment (the committed .env, plus any .env.<projectId>) sets THREADS, and for every
    function the concurrency firebase-tools will deploy is no more than THREADS: at
    CONCURRENCY exactly for the functions that serve requests at once."""
    environments = found["environments"]
    assert "demo-visn" in environments
    for project, environment in environments.items():
        assert environment.get("THREADS") == str(CONCURRENCY), project
    threads = CONCURRENCY
    concurrent = set()
    for name, endpoint in found["endpoints"].items():
        concurrency = endpoint["effectiveConcurrency"]
        assert endpoint["concurrency"] == concurrency, f"{name}: concurrency left to defaults"
        assert 1 <= concurrency <= threads, name
        if concurrency > 1:
            assert (concurrency, endpoint["effectiveCpu"]) == (threads, 1), name
            concurrent.add(name)
    assert concurrent == set(found["endpoints"])
