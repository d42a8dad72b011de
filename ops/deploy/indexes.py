"""Indexes and TTL: everything firestore/live-diary.indexes.json declares exists in the
project's (default) database: each composite index, READY; each TTL policy, on; each field
kept out of the single-field indexes, exempt. Read with gcloud, which docs/deploy.md (step 6)
also creates them with, one by one."""

from __future__ import annotations

import json
from typing import Any

from .checks import Context, Result, failed, passed
from .runner import ROOT

NAME = "indexes"
TTL = "ttl"
DECLARED = ROOT / "firestore" / "live-diary.indexes.json"
TTL_ON = {"ACTIVE", "CREATING"}  # CREATING: being turned on, nothing for a deploy to wait on


def declared() -> dict[str, Any]:
    return dict(json.loads(DECLARED.read_text()))


def check(ctx: Context) -> list[Result]:
    spec = declared()
    return [
        *_composites(ctx, spec["indexes"]),
        *_ttls(ctx, [o for o in spec["fieldOverrides"] if o.get("ttl")]),
        *_exempt(ctx, [o for o in spec["fieldOverrides"] if not o.get("ttl")]),
    ]


def _group(resource_name: str) -> str:
    """`projects/P/databases/D/collectionGroups/G/...` -> G."""
    parts = resource_name.split("/")
    return parts[parts.index("collectionGroups") + 1]


def _fields(fields: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(path, order or array config), without the `__name__` Firestore appends itself."""
    pairs = [(f["fieldPath"], f.get("order") or f.get("arrayConfig", "")) for f in fields]
    return pairs[:-1] if pairs and pairs[-1][0] == "__name__" else pairs


def _composites(ctx: Context, wanted: list[dict[str, Any]]) -> list[Result]:
    answer = ctx.ask(
        "gcloud", "firestore", "indexes", "composite", "list", "--project", ctx.project,
        "--format=json",
    )  # fmt: skip
    if not answer.ok:
        return [failed(NAME, f"cannot list the composite indexes: {answer.error_line()}",
                       "gcloud auth login with roles/datastore.indexAdmin or viewer")]  # fmt: skip
    have = {
        (_group(i["name"]), i.get("queryScope", "COLLECTION"), tuple(_fields(i["fields"]))): i
        for i in answer.json()
    }
    results: list[Result] = []
    for index in wanted:
        key = (index["collectionGroup"], index["queryScope"], tuple(_fields(index["fields"])))
        label = f"{key[0]} ({', '.join(path for path, _ in key[2])})"
        found = have.get(key)
        if found is None:
            results.append(failed(NAME, f"index {label} is missing", _create(ctx, index)))
        elif found.get("state") != "READY":
            results.append(
                failed(
                    NAME,
                    f"index {label} is {found.get('state')}, not READY: queries on it fail",
                    "wait until gcloud firestore indexes composite list shows it READY",
                )
            )
    return results or [passed(NAME, f"{len(wanted)} composite indexes READY")]


def _create(ctx: Context, index: dict[str, Any]) -> str:
    configs = " ".join(
        f"--field-config=field-path={f['fieldPath']},"
        + (f"order={f['order'].lower()}" if "order" in f else "array-config=contains")
        for f in index["fields"]
    )
    return (
        f"gcloud firestore indexes composite create --project {ctx.project} "
        f"--collection-group={index['collectionGroup']} "
        f"--query-scope={index['queryScope']} {configs}"
    )


def _ttls(ctx: Context, wanted: list[dict[str, Any]]) -> list[Result]:
    answer = ctx.ask(
        "gcloud", "firestore", "fields", "ttls", "list", "--project", ctx.project, "--format=json"
    )
    if not answer.ok:
        return [failed(TTL, f"cannot list the TTL policies: {answer.error_line()}",
                       "gcloud auth login with roles/datastore.indexAdmin or viewer")]  # fmt: skip
    on = {
        (_group(f["name"]), f["name"].rsplit("/", 1)[-1])
        for f in answer.json()
        if f.get("ttlConfig", {}).get("state") in TTL_ON
    }
    results = [
        failed(
            TTL,
            f"no TTL policy on {o['collectionGroup']}.{o['fieldPath']}: its documents are "
            "never deleted",
            f"gcloud firestore fields ttls update {o['fieldPath']} "
            f"--collection-group={o['collectionGroup']} --enable-ttl --project {ctx.project}",
        )
        for o in wanted
        if (o["collectionGroup"], o["fieldPath"]) not in on
    ]
    return results or [passed(TTL, f"{len(wanted)} TTL policies on")]


def _exempt(ctx: Context, wanted: list[dict[str, Any]]) -> list[Result]:
    results: list[Result] = []
    for override in wanted:
        group, path = override["collectionGroup"], override["fieldPath"]
        answer = ctx.ask(
            "gcloud", "firestore", "indexes", "fields", "describe", path,
            f"--collection-group={group}", "--project", ctx.project, "--format=json",
        )  # fmt: skip
        if not answer.ok:
            results.append(
                failed(
                    NAME,
                    f"cannot read {group}.{path}'s index settings: {answer.error_line()}",
                    "gcloud auth login with roles/datastore.indexAdmin or viewer",
                )
            )
            continue
        config = answer.json().get("indexConfig", {})
        if config.get("usesAncestorConfig") or config.get("indexes"):
            results.append(
                failed(
                    NAME,
                    f"{group}.{path} is indexed: every write of it costs index entries "
                    "nobody queries",
                    f"gcloud firestore indexes fields update {path} --collection-group={group} "
                    f"--disable-indexes --project {ctx.project}",
                )
            )
    return results or [passed(NAME, f"exempt from single-field indexes: {len(wanted)} field(s)")]
