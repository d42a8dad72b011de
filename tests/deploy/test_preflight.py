"""`make deploy`'s pre-flight checks (ops/deploy), offline: every CLI answer comes from the
stand-in project shipped in ops/deploy/standin.json (recorded shapes of firebase-tools' and
gcloud's JSON), with one answer broken per test, and pip's from tests/deploy/recorded. Each
check is shown passing on the good stand-in and failing where it should, with nothing
deployed; the manifest is main.py's own, as firebase-tools discovers it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devtools.firestore_rules import BEGIN, END, FRAGMENT, STANDIN, assemble
from ops.deploy import lock, manifest, preflight
from ops.deploy.__main__ import STANDIN as STANDIN_FILE
from ops.deploy.__main__ import main
from ops.deploy.manifest import Manifest
from ops.deploy.runner import StandinRunner

PROJECT = "visn-staging"
PIP = json.loads((Path(__file__).parent / "recorded" / "pip.json").read_text())
LIST = "firebase functions:list --project {project} --json"
DEPLOY = "firebase deploy --only functions:keyloop-live-diary --project {project} --non-interactive"
RULESET = (
    "GET https://firebaserules.googleapis.com/v1/projects/{project}/rulesets/"
    "4b1f7c9e-2d3a-4e8f-9c61-0a5d3e2b7f10"
)
COMPOSITE = "gcloud firestore indexes composite list --project {project} --format=json"
TTLS = "gcloud firestore fields ttls list --project {project} --format=json"
ENTRIES = (
    "gcloud firestore indexes fields describe entries --collection-group="
    "liveDiary_availabilityCache --project {project} --format=json"
)
SA = "serviceAccount:123456789012-compute@developer.gserviceaccount.com"


def secret_call(verb: str, name: str) -> str:
    return f"gcloud secrets {verb} {name} --project {{project}} --format=json"


@pytest.fixture(scope="module")
def ours() -> Manifest:
    return manifest.load(PROJECT)


Mutation = Callable[[dict[str, Any]], None]


@pytest.fixture
def check(ours: Manifest) -> Callable[..., tuple[int, list[str], list[str]]]:
    def run(
        mutate: Mutation | None = None, *, pip: str = "good", dry_run: bool = True
    ) -> tuple[int, list[str], list[str]]:
        standin = copy.deepcopy(json.loads(STANDIN_FILE.read_text()))
        recorded = PIP[pip]
        standin["answers"][" ".join(lock.command())] = {
            k: recorded[k] for k in ("exit", "stdout", "stderr")
        }
        standin["files"]["requirements.txt"] = recorded["requirements"]
        if mutate:
            mutate(standin)
        runner = StandinRunner(PROJECT, standin["answers"], standin["files"])
        lines: list[str] = []
        code = preflight.run(PROJECT, runner, ours, dry_run=dry_run, say=lines.append)
        return code, lines, runner.calls

    return run


def failures(lines: list[str], check: str) -> list[str]:
    return [line for line in lines if line.startswith(f"FAIL  {check} ")]


def assert_fails(result: tuple[int, list[str], list[str]], check: str, *words: str) -> str:
    """The run failed, on `check` alone, before any deploy; a fix line follows the reason."""
    code, lines, calls = result
    assert code == 1
    assert DEPLOY not in calls
    assert {line.split()[1] for line in lines if line.startswith("FAIL")} == {check}, lines
    (line, *_) = failures(lines, check)
    assert lines[lines.index(line) + 1].strip().startswith("fix: ")
    for word in words:
        assert word in line
    assert lines[-1].endswith("nothing was deployed")
    return line


def _answer(standin: dict[str, Any], key: str) -> Any:
    return standin["answers"][key]["stdout"]


# ---- the good stand-in


def test_a_ready_project_passes_every_check_and_deploys_our_codebase_only(check: Any) -> None:
    code, lines, calls = check(dry_run=False)
    assert code == 0, lines
    assert not [line for line in lines if line.startswith("FAIL")]
    names = {line.split()[1] for line in lines if line.startswith("ok")}
    assert names == {"functions", "params", "secrets", "rules", "indexes", "ttl", "lock"}
    # Every look-up first, the deploy last, once.
    assert calls[-1] == DEPLOY
    assert calls.count(DEPLOY) == 1
    assert "would create 3: europe-west2/findFirstAvailable, europe-west2/keyloopEvents, " \
        "europe-west2/syncDmsBookings" in lines  # fmt: skip
    assert any(line.startswith("would update 5: ") for line in lines)


def test_a_dry_run_asks_the_same_and_deploys_nothing(check: Any) -> None:
    code, lines, calls = check(dry_run=True)
    assert code == 0
    assert DEPLOY not in calls
    assert lines[-1] == f"dry run: would run {DEPLOY.replace('{project}', PROJECT)}"


def test_every_check_runs_and_reports_even_when_the_first_fails(check: Any) -> None:
    def no_env(standin: dict[str, Any]) -> None:
        del standin["files"][".env.{project}"]
        visn = next(e for e in _answer(standin, LIST)["result"] if e["id"] == "createEnquiry")
        visn["id"] = "keyloopEvents"  # ViSN's, in our region: a clash

    code, lines, _ = check(no_env)
    assert code == 1
    assert {line.split()[1] for line in lines if line.startswith("FAIL")} == {
        "functions",
        "params",
    }
    assert sum(line.startswith("ok") for line in lines) == 6  # the other checks still ran


# ---- functions


def test_a_visn_function_with_one_of_our_names_in_our_region_fails(check: Any) -> None:
    def clash(standin: dict[str, Any]) -> None:
        listed = _answer(standin, LIST)["result"]
        visn = next(e for e in listed if e["id"] == "createEnquiry")
        listed.append({**visn, "id": "findFirstAvailable", "entryPoint": "findFirstAvailable"})

    line = assert_fails(check(clash), "functions", "europe-west2/findFirstAvailable", "'default'")
    assert "take it over" in line


def test_a_function_of_ours_taken_by_another_codebase_fails_too(check: Any) -> None:
    def admin(standin: dict[str, Any]) -> None:
        (ours,) = [e for e in _answer(standin, LIST)["result"] if e["id"] == "createBooking"]
        ours["codebase"] = "visn-admin"

    assert_fails(check(admin), "functions", "europe-west2/createBooking", "'visn-admin'")


def test_the_same_name_in_another_region_is_no_clash(check: Any) -> None:
    def elsewhere(standin: dict[str, Any]) -> None:
        listed = _answer(standin, LIST)["result"]
        visn = next(e for e in listed if e["id"] == "nightlyReport")  # us-central1
        listed.append({**visn, "id": "createBooking"})

    code, lines, _ = check(elsewhere)
    assert code == 0, lines


def test_a_function_of_our_codebase_main_no_longer_declares_fails(check: Any) -> None:
    def stale(standin: dict[str, Any]) -> None:
        listed = _answer(standin, LIST)["result"]
        ours = next(e for e in listed if e["id"] == "createBooking")
        listed.append({**ours, "id": "oldBooking"})

    assert_fails(check(stale), "functions", "europe-west2/oldBooking", "no longer declares")


def test_a_listing_that_fails_fails_the_check(check: Any) -> None:
    def refused(standin: dict[str, Any]) -> None:
        # What firebase-tools 15 prints with --json when it is not logged in.
        standin["answers"][LIST] = {
            "exit": 1,
            "stdout": {
                "status": "error",
                "error": "Failed to authenticate, have you run firebase login?",
            },
        }

    assert_fails(check(refused), "functions", "cannot list", "firebase login")


# ---- params


def test_a_param_without_value_or_default_fails(check: Any) -> None:
    def missing(standin: dict[str, Any]) -> None:
        standin["files"][".env.{project}"] = "WEB_UI_ORIGINS=https://app.visn.example\n"

    assert_fails(check(missing), "params", "KEYLOOP_BASE_URL", "no default")


def test_no_env_file_for_the_project_fails_on_each_param_it_must_name(check: Any) -> None:
    code, lines, _ = check(lambda standin: standin["files"].pop(".env.{project}"))
    assert code == 1
    failed = " ".join(failures(lines, "params"))
    assert "KEYLOOP_BASE_URL" in failed
    assert "WEB_UI_ORIGINS" in failed


def test_a_param_of_the_wrong_type_fails(check: Any) -> None:
    def text(standin: dict[str, Any]) -> None:
        standin["files"][".env.{project}"] += "BOOKING_MIN_INSTANCES=one\n"

    assert_fails(check(text), "params", "BOOKING_MIN_INSTANCES", "not a valid int")


# ---- secrets


def test_a_declared_secret_that_does_not_exist_fails(check: Any) -> None:
    def gone(standin: dict[str, Any]) -> None:
        standin["answers"][secret_call("describe", "KEYLOOP_EVENTS_SECRET")] = {
            "exit": 1,
            "stderr": "ERROR: (gcloud.secrets.describe) NOT_FOUND: Secret "
            "[projects/123456789012/secrets/KEYLOOP_EVENTS_SECRET] not found or has no versions.",
        }

    line = assert_fails(check(gone), "secrets", "KEYLOOP_EVENTS_SECRET", "NOT_FOUND")
    assert "functions:secrets:set" not in line  # the fix is on its own line


def test_a_secret_whose_latest_version_is_disabled_fails(check: Any) -> None:
    def disabled(standin: dict[str, Any]) -> None:
        newest = _answer(standin, secret_call("versions list", "KEYLOOP_CLIENT_ID"))[0]
        assert newest["name"].endswith("/versions/2")
        newest["state"] = "DISABLED"

    assert_fails(check(disabled), "secrets", "KEYLOOP_CLIENT_ID", "(latest) is DISABLED")


def test_a_secret_the_functions_account_may_not_read_fails(check: Any) -> None:
    def closed(standin: dict[str, Any]) -> None:
        policy = _answer(standin, secret_call("get-iam-policy", "KEYLOOP_CLIENT_SECRET"))
        policy["bindings"][0]["members"] = ["user:someone@visn.example"]

    assert_fails(check(closed), "secrets", SA.split(":")[1], "KEYLOOP_CLIENT_SECRET")


def test_a_conditional_grant_does_not_count_but_a_project_wide_one_does(check: Any) -> None:
    key = secret_call("get-iam-policy", "KEYLOOP_CLIENT_SECRET")

    def conditional(standin: dict[str, Any]) -> None:
        _answer(standin, key)["bindings"][0]["condition"] = {"expression": "false"}

    assert_fails(check(conditional), "secrets", "KEYLOOP_CLIENT_SECRET")

    def project_wide(standin: dict[str, Any]) -> None:
        conditional(standin)
        project = _answer(standin, "gcloud projects get-iam-policy {project} --format=json")
        project["bindings"].append({"members": [SA], "role": "roles/secretmanager.secretAccessor"})

    assert check(project_wide)[0] == 0


def test_the_rotating_credentials_secret_is_checked_when_named(check: Any) -> None:
    def rotating(standin: dict[str, Any]) -> None:
        standin["files"][".env.{project}"] += (
            "KEYLOOP_CREDENTIALS_SECRET=projects/{project}/secrets/keyloop-credentials\n"
        )
        for verb in ("describe", "versions list", "get-iam-policy"):
            old = standin["answers"][secret_call(verb, "KEYLOOP_CLIENT_ID")]
            text = json.dumps(old).replace("KEYLOOP_CLIENT_ID", "keyloop-credentials")
            standin["answers"][secret_call(verb, "keyloop-credentials")] = json.loads(text)

    code, lines, calls = check(rotating)
    assert code == 0, lines
    assert secret_call("get-iam-policy", "keyloop-credentials") in calls

    def unreadable(standin: dict[str, Any]) -> None:
        rotating(standin)
        _answer(standin, secret_call("get-iam-policy", "keyloop-credentials"))["bindings"] = []

    assert_fails(check(unreadable), "secrets", "keyloop-credentials")


# ---- rules


def _served(standin: dict[str, Any], text: str) -> None:
    _answer(standin, RULESET)["source"]["files"][0]["content"] = text


def test_rules_without_our_block_fail(check: Any) -> None:
    visn_only = STANDIN.read_text()
    assert_fails(check(lambda s: _served(s, visn_only)), "rules", "not in the served rules")


def test_rules_with_a_stale_block_fail(check: Any) -> None:
    fragment = FRAGMENT.read_text()
    changed = fragment.replace("if false", "if request.auth != null", 1)
    assert changed != fragment
    stale = assemble(STANDIN.read_text(), changed)
    assert_fails(check(lambda s: _served(s, stale)), "rules", "differs from")


def test_rules_with_our_block_twice_fail(check: Any) -> None:
    merged = assemble(STANDIN.read_text(), FRAGMENT.read_text())
    twice = merged + f"\n{BEGIN}\n{END}\n"
    assert_fails(check(lambda s: _served(s, twice)), "rules", "2 begin and 2 end")


def test_rules_merged_with_other_indentation_pass(check: Any) -> None:
    merged = assemble(STANDIN.read_text(), FRAGMENT.read_text()).replace("\n  ", "\n\t")
    assert check(lambda s: _served(s, merged))[0] == 0


# ---- indexes, TTL, exemptions


def test_a_missing_composite_index_fails_with_its_create_command(check: Any) -> None:
    def dropped(standin: dict[str, Any]) -> None:
        listed = _answer(standin, COMPOSITE)
        listed[:] = [i for i in listed if "liveDiary_compensations" not in i["name"]]

    _, lines, _ = result = check(dropped)
    line = assert_fails(result, "indexes", "liveDiary_compensations (status, nextAttemptAt)")
    fix = lines[lines.index(line) + 1]
    assert "--collection-group=liveDiary_compensations" in fix
    assert "--field-config=field-path=nextAttemptAt,order=ascending" in fix


def test_an_index_still_building_fails(check: Any) -> None:
    def building(standin: dict[str, Any]) -> None:
        for index in _answer(standin, COMPOSITE):
            if "/enquiries/" in index["name"] and index["fields"][0]["fieldPath"] == "status":
                index["state"] = "CREATING"

    assert_fails(check(building), "indexes", "enquiries (status, slot.start)", "CREATING")


def test_an_index_on_other_fields_is_not_ours(check: Any) -> None:
    def reordered(standin: dict[str, Any]) -> None:
        for index in _answer(standin, COMPOSITE):
            if "liveDiary_bookingOperations" in index["name"]:
                index["fields"][1]["order"] = "DESCENDING"

    assert_fails(check(reordered), "indexes", "liveDiary_bookingOperations")


def test_a_missing_ttl_policy_fails(check: Any) -> None:
    def off(standin: dict[str, Any]) -> None:
        for field in _answer(standin, TTLS):
            if "liveDiary_rateLimits" in field["name"]:
                field["ttlConfig"]["state"] = "NEEDS_REPAIR"

    assert_fails(check(off), "ttl", "liveDiary_rateLimits.expireAt")


def test_a_field_we_keep_out_of_the_indexes_that_is_indexed_fails(check: Any) -> None:
    def indexed(standin: dict[str, Any]) -> None:
        config = _answer(standin, ENTRIES)["indexConfig"]
        config["usesAncestorConfig"] = True
        config["indexes"] = [{"fields": [{"fieldPath": "entries", "order": "ASCENDING"}]}]

    assert_fails(check(indexed), "indexes", "liveDiary_availabilityCache.entries")


def test_a_field_setting_that_cannot_be_read_says_so(check: Any) -> None:
    def denied(standin: dict[str, Any]) -> None:
        standin["answers"][ENTRIES] = {
            "exit": 1,
            "stderr": "ERROR: (gcloud.firestore.indexes.fields.describe) PERMISSION_DENIED: "
            "The caller does not have permission",
        }

    assert_fails(check(denied), "indexes", "cannot read", "PERMISSION_DENIED")


# ---- the lock


def test_a_lock_whose_hashes_are_not_pypis_fails(check: Any) -> None:
    assert_fails(check(pip="tampered"), "lock", "DO NOT MATCH THE HASHES", "idna==3.20")


def test_a_lock_missing_a_dependency_fails(check: Any) -> None:
    assert_fails(check(pip="missing"), "lock", "must have their versions pinned")


def test_pip_installing_other_than_the_lock_fails(check: Any) -> None:
    def other(standin: dict[str, Any]) -> None:
        standin["files"]["requirements.txt"] = PIP["good"]["requirements"].replace(
            "idna==3.20", "idna==3.19"
        )

    assert_fails(check(other), "lock", "idna 3.19 -> 3.20")


def test_an_answer_in_another_shape_fails_its_check_alone(check: Any) -> None:
    def garbled(standin: dict[str, Any]) -> None:
        standin["answers"][TTLS] = {"stdout": "Listed 0 items."}  # text, not --format=json

    assert_fails(check(garbled), "indexes", "not in the shape expected")


# ---- the command


def test_a_demo_project_is_only_checked_never_deployed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--project", "demo-visn"]) == 2
    assert "DRY_RUN=1" in capsys.readouterr().err
