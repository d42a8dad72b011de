"""Params: every param main.py declares has a value for the project, from `.env.<projectId>`
(or `.env`) or its default, of its type; a deploy would otherwise ask for it, or stop when
non-interactive (CI). Secrets are secrets.py's."""

from __future__ import annotations

from .checks import Context, Result, failed, passed

NAME = "params"
# Params whose default is valid but wrong for a real project (docs/deploy.md says why).
MUST_BE_SET = {"WEB_UI_ORIGINS": "empty, no browser origin may call the callables (CORS)"}


def check(ctx: Context) -> list[Result]:
    env = ctx.env()
    source = f".env.{ctx.project}"
    results: list[Result] = []
    counted = {"set": 0, "default": 0}
    for param in ctx.manifest.params:
        if param.type == "secret":
            continue
        value = env.get(param.name)
        if value is None and not param.has_default:
            results.append(
                failed(
                    NAME,
                    f"{param.name} has no value for {ctx.project} and no default: the deploy "
                    "would ask for it (or stop, in CI)",
                    f"add {param.name}=… to {source} (docs/deploy.md, step 3)",
                )
            )
            continue
        if value is not None and not _of_type(value, param.type):
            results.append(
                failed(
                    NAME,
                    f"{param.name}={value!r} in {source} is not a valid {param.type}",
                    f"correct it in {source}",
                )
            )
            continue
        why = MUST_BE_SET.get(param.name)
        if why and not ctx.project.startswith("demo-") and not (value or "").strip():
            results.append(
                failed(NAME, f"{param.name} is {why}", f"add {param.name}=… to {source}")
            )
            continue
        counted["set" if value is not None else "default"] += 1
    if not results:
        results.append(
            passed(
                NAME,
                f"{sum(counted.values())} params have a value for {ctx.project} "
                f"({counted['set']} set in .env files, {counted['default']} defaults)",
            )
        )
    return results


def _of_type(value: str, kind: str) -> bool:
    if kind == "int":
        try:
            int(value)
        except ValueError:
            return False
        return True
    if kind == "boolean":
        return value.lower() in ("true", "false")
    return True
