"""The stand-in project (ops/deploy/standin.json) answers in the real CLIs' shapes: its
function listing is what the pinned firebase-tools' own code makes of the same functions, and
the checks ask it every question it answers (no answer is dead, none is missing)."""

from __future__ import annotations

import json
from typing import Any

from ops.deploy import lock, manifest, preflight
from ops.deploy.__main__ import STANDIN
from ops.deploy.runner import StandinRunner
from tests.e2e.firebase_tools import run_script

LIST = "firebase functions:list --project {project} --json"


def _spec(endpoint: dict[str, Any]) -> dict[str, Any]:
    """What functions_list.cjs needs to make this endpoint again."""
    triggers = [
        label.removeprefix("deployment-")
        for label in endpoint["labels"]
        if label.startswith("deployment-") and label != "deployment-tool"
    ]
    return {
        "id": endpoint["id"],
        "region": endpoint["region"],
        "codebase": endpoint["codebase"],
        "gen": 1 if endpoint["platform"] == "gcfv1" else 2,
        "runtime": endpoint["runtime"],
        **({"trigger": triggers[0]} if triggers else {}),
    }


def test_the_function_listing_is_firebase_tools_own_shape() -> None:
    recorded = json.loads(STANDIN.read_text())["answers"][LIST]["stdout"]
    specs = [_spec(e) for e in recorded["result"]]
    assert run_script("../deploy/functions_list.cjs", json.dumps(specs), timeout=120) == recorded


def test_every_answer_of_the_standin_is_asked_and_nothing_else() -> None:
    standin = json.loads(STANDIN.read_text())
    runner = StandinRunner("demo-visn", standin["answers"], standin["files"], live=frozenset())
    runner.answers = {
        **standin["answers"],
        " ".join(lock.command()): {"exit": 1, "stderr": "ERROR: offline"},
    }
    preflight.run("demo-visn", runner, manifest.load("demo-visn"), dry_run=True, say=lambda _: None)
    assert set(runner.calls) == set(runner.answers)
