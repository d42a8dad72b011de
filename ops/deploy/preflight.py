"""The pre-flight checks in order, what they print, and the deploy when every one passed."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from . import functions, indexes, lock, params, rules, secrets
from .checks import Context, Result, failed
from .functions import Plan
from .manifest import Manifest
from .runner import Call, Runner


def deploy_call(ctx: Context) -> Call:
    """`firebase deploy` of our codebase alone; non-interactive, so it never stops to ask (a
    param it would ask for is a failed check here) and never deletes without --force."""
    return Call(
        (
            "firebase",
            "deploy",
            "--only",
            f"functions:{ctx.manifest.codebase}",
            "--project",
            ctx.project,
            "--non-interactive",
        )
    )


def checks(ctx: Context) -> tuple[list[Result], Plan | None]:
    listed = _guarded("functions", lambda: functions.check(ctx))
    results, plan = listed if isinstance(listed, tuple) else (listed, None)
    for name, check in (
        ("params", lambda: params.check(ctx)),
        ("secrets", lambda: secrets.check(ctx)),
        ("rules", lambda: [rules.check(ctx)]),
        ("indexes", lambda: indexes.check(ctx)),
        ("lock", lambda: [lock.check(ctx)]),
    ):
        results += _guarded(name, check)
    return results, plan


T = TypeVar("T")


def _guarded(name: str, check: Callable[[], T]) -> T | list[Result]:
    """The check's results; an answer not in the shape it reads fails that check alone."""
    try:
        return check()
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        return [
            failed(
                name,
                f"an answer was not in the shape expected: {type(exc).__name__}: {exc}"[:300],
                "run the command it names by hand and compare with ops/deploy/standin.json",
            )
        ]


def run(
    project: str,
    runner: Runner,
    manifest: Manifest,
    *,
    dry_run: bool,
    say: Callable[[str], None] = print,
) -> int:
    """0 deployed (or, dry, would deploy); 1 a check failed and nothing was sent; else the
    deploy's own exit status."""
    ctx = Context(project, runner, manifest)
    say(f"Pre-flight checks for project {project}, codebase {manifest.codebase}")
    results, plan = checks(ctx)
    for result in results:
        for line in result.lines():
            say(line)
    failures = [r for r in results if not r.ok]
    if failures:
        say(f"{len(failures)} check(s) failed: nothing was deployed")
        return 1
    call = deploy_call(ctx)
    if plan is not None:
        for verb, names in (("create", plan.create), ("update", plan.update)):
            if names:
                say(f"would {verb} {len(names)}: {', '.join(names)}")
        say("nothing else in the project is touched (no other codebase, rules or indexes)")
    if dry_run:
        say(f"dry run: would run {' '.join(call.argv)}")
        return 0
    say(f"deploying: {' '.join(call.argv)}")
    return runner.deploy(call)
