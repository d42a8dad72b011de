"""Secrets: each secret main.py declares, and the rotating credentials secret when
`KEYLOOP_CREDENTIALS_SECRET` names one, exists in Secret Manager, its version the functions
read (`latest` unless a version is named) is enabled, and the functions' service account may
read it (roles/secretmanager.secretAccessor on the secret or the project). No value is read.

firebase deploy would grant the accessor role on a declared secret itself, if the deployer may
change the secret's IAM policy; the check asks for the grant to be there already, so that a
least-privilege deployer (the pipeline's) needs no Secret Manager admin role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keyloop.credentials import secret_resource_name

from .checks import Context, Result, failed, passed

NAME = "secrets"
READERS = {"roles/secretmanager.secretAccessor", "roles/secretmanager.admin"}


@dataclass(frozen=True)
class Secret:
    project: str
    name: str
    version: str  # "latest" or a number
    declared: bool  # a SecretParam (else the runtime-read credentials secret)


def wanted(ctx: Context) -> list[Secret] | Result:
    found = [Secret(ctx.project, name, "latest", True) for name in ctx.manifest.secrets]
    rotating = ctx.env().get("KEYLOOP_CREDENTIALS_SECRET", "").strip()
    if rotating:
        parts = secret_resource_name(rotating, ctx.project).split("/")
        if len(parts) != 6 or parts[0::2] != ["projects", "secrets", "versions"]:
            return failed(
                NAME,
                f"KEYLOOP_CREDENTIALS_SECRET={rotating!r} is not projects/P/secrets/NAME",
                "write it as projects/<project>/secrets/<name> (docs/deploy.md, step 2b)",
            )
        found.append(Secret(parts[1], parts[3], parts[5], False))
    return found


def check(ctx: Context) -> list[Result]:
    secrets = wanted(ctx)
    if isinstance(secrets, Result):
        return [secrets]
    accounts = _service_accounts(ctx)
    if isinstance(accounts, Result):
        return [accounts]
    results = [r for secret in secrets for r in _one(ctx, secret, accounts)]
    bad = [r for r in results if not r.ok]
    if bad:
        return bad
    names = ", ".join(s.name for s in secrets)
    return [passed(NAME, f"{names}: each has an enabled version {' and '.join(accounts)} reads")]


def _service_accounts(ctx: Context) -> list[str] | Result:
    named = sorted(a for a in ctx.manifest.service_accounts if a)
    if None not in ctx.manifest.service_accounts:
        return named
    answer = ctx.ask("gcloud", "projects", "describe", ctx.project, "--format=json")
    if not answer.ok:
        return failed(
            NAME,
            f"cannot read the project's number: {answer.error_line()}",
            "gcloud auth login (or CI credentials) and check the project id",
        )
    number = answer.json()["projectNumber"]
    # The functions name no account: 2nd gen functions run as the default compute one.
    return [f"{number}-compute@developer.gserviceaccount.com", *named]


def _one(ctx: Context, secret: Secret, accounts: list[str]) -> list[Result]:
    where = ("--project", secret.project, "--format=json")
    label = secret.name if secret.project == ctx.project else f"{secret.project}/{secret.name}"
    set_it = (
        f"npx firebase functions:secrets:set {secret.name} --project {secret.project}"
        if secret.declared
        else f"gcloud secrets versions add {secret.name} --data-file=… --project {secret.project}"
    )
    described = ctx.ask("gcloud", "secrets", "describe", secret.name, *where)
    if not described.ok:
        return [
            failed(
                NAME,
                f"secret {label} cannot be read: {described.error_line()}",
                f"{set_it} (docs/deploy.md, step 2)",
            )
        ]
    versions = ctx.ask("gcloud", "secrets", "versions", "list", secret.name, *where)
    if not versions.ok:
        return [
            failed(
                NAME,
                f"cannot list secret {label}'s versions: {versions.error_line()}",
                "gcloud auth login (or CI credentials) with roles/secretmanager.viewer",
            )
        ]
    state = _state(versions.json(), secret.version)
    if state != "ENABLED":
        return [
            failed(
                NAME,
                f"secret {label}: the version the functions read ({secret.version}) is {state}",
                f"{set_it}, or enable the version (gcloud secrets versions enable)",
            )
        ]
    policy = ctx.ask("gcloud", "secrets", "get-iam-policy", secret.name, *where)
    project_policy = ctx.ask("gcloud", "projects", "get-iam-policy", secret.project, *where[2:])
    readers = _readers(policy.json() if policy.ok else {})
    readers |= _readers(project_policy.json() if project_policy.ok else {})
    return [
        failed(
            NAME,
            f"{account} may not read secret {label}",
            f"gcloud secrets add-iam-policy-binding {secret.name} --project {secret.project} "
            f"--member=serviceAccount:{account} --role=roles/secretmanager.secretAccessor",
        )
        for account in accounts
        if f"serviceAccount:{account}" not in readers
    ] or [passed(NAME, label)]


def _state(versions: list[dict[str, Any]], version: str) -> str:
    """The state of `version` ("latest": the newest, whatever its state, as Secret Manager's
    alias means), or why there is none."""
    numbered = {str(v["name"]).rsplit("/", 1)[-1]: str(v.get("state")) for v in versions}
    if not numbered:
        return "absent (the secret has no version)"
    if version == "latest":
        version = max(numbered, key=int)
    return numbered.get(version, "absent")


def _readers(policy: dict[str, Any]) -> set[str]:
    """Members an unconditional binding lets read secret payloads."""
    return {
        member
        for binding in policy.get("bindings", [])
        if binding.get("role") in READERS and not binding.get("condition")
        for member in binding.get("members", [])
    }
