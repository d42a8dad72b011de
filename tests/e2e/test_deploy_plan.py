"""A deploy of ours into ViSN's project touches only our functions: firebase-tools' own
discovery, `--only` parsing, codebase grouping and planner, run offline (deploy_plan.cjs)
against a simulated project that already runs ViSN's functions in `default` and in another
codebase. What is simulated, and what is not proved, is said at the top of deploy_plan.cjs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from devtools.stack.config import FUNCTIONS
from tests.e2e.firebase_tools import run_script

ROOT = Path(__file__).resolve().parents[2]
OURS = set(FUNCTIONS)
VISN = {
    "europe-west1/legacyWebhook@default",
    "europe-west2/createEnquiry@default",
    "europe-west2/sendEnquiryEmail@default",
    "us-central1/nightlyReport@default",
    "europe-west2/adminImport@visn-admin",
}


def _codebase() -> str:
    (functions,) = json.loads((ROOT / "firebase.json").read_text())["functions"]
    return str(functions["codebase"])


CODEBASE = _codebase()


@pytest.fixture(scope="module")
def plans() -> dict[str, Any]:
    scenarios = {
        "first": {"only": f"functions:{CODEBASE}"},
        "again": {"only": f"functions:{CODEBASE}", "alreadyDeployed": True},
        "unqualified": {"only": "functions", "alreadyDeployed": True},
        "as default": {"only": "functions", "codebase": "default"},
        "name clash": {"only": f"functions:{CODEBASE}", "clash": "createBooking"},
    }
    return run_script("deploy_plan.cjs", json.dumps(scenarios), timeout=180)


def _ids(entries: list[str]) -> set[str]:
    return {e.split("/", 1)[1] for e in entries}


def test_our_codebase_is_our_own() -> None:
    config = json.loads((ROOT / "firebase.json").read_text())
    # Firebase's rule for codebase names; `default` is where ViSN's own functions live.
    assert re.fullmatch(r"[a-z0-9_-]{1,62}", CODEBASE)
    assert CODEBASE != "default"
    # Rules and indexes are ViSN's, per database: nothing of ours deploys over them.
    assert "firestore" not in config


def test_a_first_deploy_only_creates_our_functions(plans: dict[str, Any]) -> None:
    first = plans["first"]
    assert set(first["existing"]) == VISN
    assert first["targeted"] == [CODEBASE]
    assert first["plans"] == {
        CODEBASE: {
            "create": sorted(f"europe-west2/{i}" for i in OURS),
            "update": [],
            "delete": [],
            "skip": [],
        }
    }


@pytest.mark.parametrize("scenario", ["again", "unqualified"])
def test_a_redeploy_updates_only_our_functions(plans: dict[str, Any], scenario: str) -> None:
    """Also with a bare `--only functions`: firebase.json names our codebase alone."""
    again = plans[scenario]
    assert set(again["existing"]) > VISN
    (plan,) = again["plans"].values()
    assert again["targeted"] == [CODEBASE]
    assert (plan["create"], plan["delete"]) == ([], [])
    assert _ids(plan["update"]) | _ids(plan["skip"]) == OURS


def test_the_planner_would_delete_visn_functions_from_a_default_codebase(
    plans: dict[str, Any],
) -> None:
    """What the issue found, seen by the same planner: the test can tell a deletion."""
    (plan,) = plans["as default"]["plans"].values()
    assert _ids(plan["delete"]) == {
        "legacyWebhook",
        "createEnquiry",
        "sendEnquiryEmail",
        "nightlyReport",
    }


def test_a_visn_function_with_one_of_our_names_would_be_taken_over(
    plans: dict[str, Any],
) -> None:
    """Function names are per region, not per codebase: firebase-tools gives an existing
    function to the codebase that declares its name. docs/deploy.md checks for this first."""
    (plan,) = plans["name clash"]["plans"].values()
    assert "europe-west2/createBooking" in plan["update"]
    assert plan["delete"] == []
