"""Function names: none of ViSN's functions in a region of ours carries one of our names
(Firebase names a function by region and id, not by codebase: a deploy would take it over),
and no function of our codebase is one main.py no longer declares (the deploy would stop to
ask whether to delete it). From firebase-tools' own listing, `functions:list --json`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .checks import Context, Result, failed, passed

NAME = "functions"


@dataclass(frozen=True)
class Plan:
    create: list[str]  # region/id
    update: list[str]
    listed: int


def check(ctx: Context) -> tuple[list[Result], Plan | None]:
    answer = ctx.ask("firebase", "functions:list", "--project", ctx.project, "--json")
    if not answer.ok:
        return [
            failed(
                NAME,
                f"cannot list the project's functions: {answer.error_line()}",
                "npx firebase login (or CI credentials) with roles/cloudfunctions.viewer, "
                "and check the project id",
            )
        ], None
    existing: list[dict[str, Any]] = answer.json()["result"]
    ours = ctx.manifest.codebase
    wanted = {f"{region}/{name}" for name, region in ctx.manifest.regions.items()}
    results: list[Result] = []
    have: set[str] = set()
    for endpoint in existing:
        where = f"{endpoint['region']}/{endpoint['id']}"
        codebase = endpoint.get("codebase") or "default"
        if where in wanted and codebase != ours:
            results.append(
                failed(
                    NAME,
                    f"{where} is a function of codebase {codebase!r}, not ours: "
                    "our deploy would take it over",
                    "agree with ViSN to rename or delete theirs first; never deploy over it",
                )
            )
        elif where in wanted:
            have.add(where)
        elif codebase == ours:
            results.append(
                failed(
                    NAME,
                    f"{where} is in our codebase but main.py no longer declares it: the "
                    "deploy would stop to ask whether to delete it",
                    f"firebase functions:delete {endpoint['id']} --region "
                    f"{endpoint['region']} --project {ctx.project} (once nothing calls it)",
                )
            )
    if not results:
        results.append(
            passed(
                NAME,
                f"none of our {len(wanted)} names is another codebase's in "
                f"{', '.join(sorted(set(ctx.manifest.regions.values())))} "
                f"({len(existing)} functions listed)",
            )
        )
    plan = Plan(sorted(wanted - have), sorted(have), len(existing))
    return results, plan
