"""Rules: our block is merged into the rules the project's Firestore serves now (its
`cloud.firestore` release, read from the Firebase Rules API): the marker comments once each,
and the text between them equal to firestore/live-diary.rules (indentation aside)."""

from __future__ import annotations

from devtools.firestore_rules import BEGIN, END, FRAGMENT

from .checks import Context, Result, failed, passed

NAME = "rules"
API = "https://firebaserules.googleapis.com/v1"
MERGE = "merge it (docs/deploy.md, step 5: python -m devtools.firestore_rules) and publish"


def check(ctx: Context) -> Result:
    release = ctx.ask("GET", f"{API}/projects/{ctx.project}/releases/cloud.firestore")
    if not release.ok:
        return failed(
            NAME,
            f"cannot read the project's Firestore rules release: {release.error_line()}",
            "gcloud auth application-default login (or CI credentials) with "
            "roles/firebaserules.viewer",
        )
    ruleset_name = release.json()["rulesetName"]
    ruleset = ctx.ask("GET", f"{API}/{ruleset_name}")
    if not ruleset.ok:
        return failed(NAME, f"cannot read {ruleset_name}: {ruleset.error_line()}", MERGE)
    files = ruleset.json().get("source", {}).get("files", [])
    text = "\n".join(str(f.get("content", "")) for f in files)
    return compare(text, FRAGMENT.read_text(), ruleset_name.rsplit("/", 1)[-1])


def compare(served: str, fragment: str, ruleset: str) -> Result:
    begins, ends = served.count(BEGIN), served.count(END)
    if begins == 0 and ends == 0:
        return failed(NAME, f"our block is not in the served rules (ruleset {ruleset})", MERGE)
    if begins != 1 or ends != 1 or served.index(END) < served.index(BEGIN):
        return failed(
            NAME,
            f"the served rules have {begins} begin and {ends} end markers of our block, "
            "not one of each in order",
            "keep exactly one block, between the two marker comments, and publish",
        )
    block = served[served.index(BEGIN) + len(BEGIN) : served.index(END)]
    have = [line.strip() for line in block.strip().splitlines()]
    want = [line.strip() for line in fragment.strip().splitlines()]
    if have != want:
        line = next(
            (n for n, (a, b) in enumerate(zip(have, want, strict=False), 1) if a != b),
            min(len(have), len(want)) + 1,
        )
        return failed(
            NAME,
            f"the block in the served rules differs from firestore/live-diary.rules "
            f"(first at line {line} of the block)",
            "replace the part between the marker comments with firestore/live-diary.rules "
            "and publish",
        )
    return passed(NAME, f"our block is merged, as in firestore/live-diary.rules ({ruleset})")
