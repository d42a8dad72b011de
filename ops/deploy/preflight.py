"""The pre-flight checks in order, what they print, and the deploy when every one passed."""

from __future__ import annotations

from collections.abc import Callable

from . import functions, indexes, lock, params, rules, secrets
from .checks import Context, Result
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
    results, plan = functions.check(ctx)
    results += params.check(ctx)
    results += secrets.check(ctx)
    results.append(rules.check(ctx))
    results += indexes.check(ctx)
    results.append(lock.check(ctx))
    return results, plan


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
