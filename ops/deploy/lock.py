"""The lock: what Cloud Functions will install is what we tested. requirements.txt is what
its build runs `pip install -r` on; here pip resolves it against PyPI in hash-checking mode
without installing anything (`--dry-run`), downloading each file and checking its sha256
against the lock. A release whose files changed, a dependency missing from the lock, or a
pin PyPI no longer serves fails here instead of in Cloud Build."""

from __future__ import annotations

import re

from .checks import Context, Result, failed, passed

NAME = "lock"
INDEX = "https://pypi.org/simple"
REQUIREMENTS = "requirements.txt"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)


def command() -> tuple[str, ...]:
    return (
        "pip", "install", "--dry-run", "--ignore-installed", "--require-hashes",
        "--disable-pip-version-check", "--quiet", "--index-url", INDEX,
        "--report", "-", "-r", REQUIREMENTS,
    )  # fmt: skip


def check(ctx: Context) -> Result:
    answer = ctx.ask(*command())
    fix = "make lock, run the tests and commit requirements.txt (docs/deploy.md, the lock)"
    if not answer.ok:
        return failed(NAME, f"{REQUIREMENTS} does not install: {_reason(answer.stderr)}", fix)
    report = answer.json()
    installed = {
        _normal(i["metadata"]["name"]): i["metadata"]["version"] for i in report["install"]
    }
    pinned = {_normal(n): v for n, v in _PIN.findall(ctx.runner.source_file(REQUIREMENTS) or "")}
    differ = sorted(
        f"{name} {pinned.get(name)} -> {installed.get(name)}"
        for name in set(installed) | set(pinned)
        if installed.get(name) != pinned.get(name)
    )
    if differ:
        return failed(NAME, f"pip would install other than the lock: {', '.join(differ)}", fix)
    return passed(
        NAME, f"{len(installed)} packages of {REQUIREMENTS} install from PyPI, every hash as locked"
    )


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _reason(stderr: str) -> str:
    """pip's ERROR line, with the requirement it names when it names one."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    error = next((line for line in lines if line.startswith("ERROR")), lines[-1] if lines else "")
    named = next((line for line in lines if re.match(r"^[\w.-]+==\S+ from ", line)), "")
    return f"{error} {named.split(' from ')[0]}".strip()[:300]
