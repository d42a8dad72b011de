"""Apply the alerts as code to a project: `venv/bin/python -m ops.apply --project P
[--channel projects/P/notificationChannels/ID ...] [--dry-run]` (or `make alerts`).

Each `ops/metrics/NAME.yaml` is a log-based metric (a LogMetric; the file name is its name),
created or updated with `gcloud logging metrics`. Each `ops/policies/*.yaml` is an alert
policy (an AlertPolicy), created, or updated when a policy of the same displayName exists,
with `gcloud alpha monitoring policies` (policies have no GA gcloud command yet), with the
given notification channels. Each `ops/dashboards/ID.yaml` is a Cloud Monitoring dashboard,
`projects/P/dashboards/ID`, created with `gcloud monitoring dashboards`, or updated on the etag
read just before (a change made meanwhile in the console fails the update rather than being
lost). Running it again changes nothing that is already as in the files.
--dry-run prints the gcloud commands without running them (and without looking anything up).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

OPS = Path(__file__).resolve().parent
METRICS = OPS / "metrics"
POLICIES = OPS / "policies"
DASHBOARDS = OPS / "dashboards"


def metric_files() -> list[Path]:
    return sorted(METRICS.glob("*.yaml"))


def policy_files() -> list[Path]:
    return sorted(POLICIES.glob("*.yaml"))


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not a mapping")
    return document


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.apply", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--project", required=True)
    parser.add_argument("--channel", action="append", default=[], help="notification channel")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    run = _Runner(args.dry_run)
    project = ["--project", args.project]
    for path in metric_files():
        name = path.stem
        exists = run.lookup(["gcloud", "logging", "metrics", "describe", name, *project])
        verb = "update" if exists else "create"
        run(["gcloud", "logging", "metrics", verb, name, f"--config-from-file={path}", *project])
    for path in policy_files():
        policy = load(path)
        policy["notificationChannels"] = list(args.channel)
        display = policy["displayName"]
        found = run.lookup(
            [
                "gcloud",
                "alpha",
                "monitoring",
                "policies",
                "list",
                f"--filter=displayName={json.dumps(display)}",
                "--format=value(name)",
                *project,
            ]
        )
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
            json.dump(policy, out)
        command = ["gcloud", "alpha", "monitoring", "policies"]
        if found:
            command += ["update", found.split()[0]]
        else:
            command += ["create"]
        run([*command, f"--policy-from-file={out.name}", *project], shown=path)
        Path(out.name).unlink()
    for path in dashboard_files():
        _apply_dashboard(run, path, args.project)
    return 0


def _apply_dashboard(run: _Runner, path: Path, project: str) -> None:
    dashboard = load(path)
    name = f"projects/{project}/dashboards/{path.stem}"
    etag = run.lookup(
        [
            "gcloud",
            "monitoring",
            "dashboards",
            "describe",
            name,
            "--format=value(etag)",
            "--project",
            project,
        ]
    )
    dashboard["name"] = name
    command = ["gcloud", "monitoring", "dashboards"]
    if etag:
        dashboard["etag"] = etag
        command += ["update", name]
    else:
        command += ["create"]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(dashboard, out)
    run([*command, f"--config-from-file={out.name}", "--project", project], shown=path)
    Path(out.name).unlink()


class _Runner:
    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run

    def lookup(self, command: list[str]) -> str:
        """What a read-only gcloud command prints ('' when it fails, i.e. nothing is there)."""
        if self.dry_run:
            return ""
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        return done.stdout.strip() if done.returncode == 0 else ""

    def __call__(self, command: list[str], shown: Path | None = None) -> None:
        printed = [_shown(a, shown) for a in command]
        print(shlex.join(printed), flush=True)
        if not self.dry_run:
            subprocess.run(command, check=True)  # noqa: S603 (gcloud, our own arguments)


def _shown(argument: str, path: Path | None) -> str:
    """The file we wrote, printed as the file in ops/ it was made from."""
    if path is not None and argument.startswith("--policy-from-file="):
        return f"--policy-from-file={path} (+ channels)"
    if path is not None and argument.startswith("--config-from-file="):
        return f"--config-from-file={path} (+ name, etag)"
    return argument


if __name__ == "__main__":
    sys.exit(main())
