"""What we would deploy, as firebase-tools sees it: the manifest firebase_functions serves to
firebase-tools' discovery (`/__/functions.yaml`), built from main.py in a fresh interpreter,
and the codebase firebase.json names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devtools.stack.config import FUNCTIONS

from .runner import ROOT

# What firebase-tools' Python discovery runs (firebase_functions.private.serving), printed.
_MANIFEST = (
    "from firebase_functions.private.serving import functions_as_yaml, get_functions\n"
    "print(functions_as_yaml(get_functions()))"
)


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # string, int, boolean, list, secret
    default: Any = None

    @property
    def has_default(self) -> bool:
        return self.default is not None


@dataclass(frozen=True)
class Manifest:
    codebase: str
    regions: dict[str, str]  # function id -> its region
    params: tuple[Param, ...]
    # Every function runs as its own account when it names one; None: the default compute one.
    service_accounts: frozenset[str | None]

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.type == "secret")


def codebase(root: Path = ROOT) -> str:
    (functions,) = json.loads((root / "firebase.json").read_text())["functions"]
    return str(functions["codebase"])


def load(project: str, root: Path = ROOT) -> Manifest:
    """main.py's manifest as discovered for `project` (its id decides App Check and CORS)."""
    env = {**os.environ, "GCLOUD_PROJECT": project}
    done = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", _MANIFEST],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return from_yaml(done.stdout, codebase(root))


def from_yaml(text: str, codebase_name: str) -> Manifest:
    spec = yaml.safe_load(text)
    endpoints: dict[str, Any] = spec["endpoints"]
    regions = {name: str(ep["region"][0]) for name, ep in endpoints.items()}
    if set(regions) != set(FUNCTIONS):
        raise ValueError(
            f"main.py declares {sorted(regions)}, devtools.stack.config.FUNCTIONS says "
            f"{sorted(FUNCTIONS)}: keep the one list in step"
        )
    params = tuple(
        Param(str(p["name"]), str(p["type"]), p.get("default")) for p in spec.get("params", [])
    )
    accounts = frozenset(ep.get("serviceAccountEmail") for ep in endpoints.values())
    return Manifest(codebase_name, regions, params, accounts)
