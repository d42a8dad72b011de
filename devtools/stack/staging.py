"""firebase-tools' run files: staged functions source, firebase.json, rules, who runs Firestore."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Literal, cast

from keyloop_sandbox.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

from ..firestore_rules import assembled_standin
from ..processes import StartError
from .config import DEV_EVENTS_SECRET, ROOT, FirestoreMode, StackConfig


def emulators_block(config: StackConfig, *, firestore: bool) -> dict[str, Any]:
    """firebase.json's "emulators": every port firebase-tools opens, so none is picked at
    random, and no UI."""
    at = {"host": config.host}
    block: dict[str, Any] = {
        "singleProjectMode": True,
        "auth": {**at, "port": config.auth_port},
        "functions": {**at, "port": config.functions_port},
        "hub": {**at, "port": config.hub_port},
        "logging": {**at, "port": config.logging_port},
        "eventarc": {**at, "port": config.eventarc_port},
        "tasks": {**at, "port": config.tasks_port},
        "ui": {"enabled": False},
    }
    if firestore:
        block["firestore"] = {**at, "port": config.firestore_port}
    return block


def java_major() -> int | None:
    java = shutil.which("java")
    if java is None:
        return None
    try:
        done = subprocess.run(  # noqa: S603 (a fixed command)
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8" is Java 8


def firebase_firestore_jar_cached() -> bool:
    cache = os.environ.get("FIREBASE_EMULATORS_PATH") or Path.home() / ".cache/firebase/emulators"
    return any(Path(cache).glob("cloud-firestore-emulator-*.jar"))


def firestore_runner(mode: FirestoreMode) -> Literal["gcloud", "firebase-tools"]:
    """Who runs Firestore. `auto`: firebase-tools when it can (Java 21+, and its jar cached or
    no Google Cloud CLI emulator to fall back on, so it must download), else the CLI's."""
    if mode != "auto":
        return mode
    if (java_major() or 0) >= 21 and (
        firebase_firestore_jar_cached() or shutil.which("gcloud") is None
    ):
        return "firebase-tools"
    return "gcloud"


def _ignored(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch(name, pattern.removeprefix("**/")) for pattern in patterns)


def stage_functions(source: Path, ignore: Sequence[str], into: Path) -> list[str]:
    """Symlink into `into` what a deploy of `source` uploads, but no dotfiles (the run writes
    its own .env.local and .secret.local) other than `.env`, the environment every deploy
    carries (THREADS), plus venv/ (firebase-tools runs the functions in it). Returns the names
    staged."""
    if not (source / "venv" / "bin" / "activate").exists():
        raise StartError(f"{source / 'venv'} is missing: run `make setup`")
    into.mkdir(parents=True, exist_ok=True)
    for entry in into.iterdir():
        if entry.is_symlink() or entry.name in (".env.local", ".secret.local"):
            entry.unlink()
    staged = []
    for entry in sorted(source.iterdir()):
        name = entry.name
        if into.resolve().is_relative_to(entry.resolve()):
            continue  # the run directory itself
        if name in ("venv", ".env") or not (name.startswith(".") or _ignored(name, ignore)):
            (into / name).symlink_to(entry)
            staged.append(name)
    return staged


def committed_firebase_json() -> dict[str, Any]:
    return cast(dict[str, Any], json.loads((ROOT / "firebase.json").read_text()))


def rules_file(directory: Path) -> Path:
    """The run's rules: a stand-in for ViSN's own with our block merged in, as a ViSN
    project has them (firebase.json deploys no rules of ours)."""
    path = directory / "firestore.rules"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(assembled_standin())
    return path


def firebase_config(
    config: StackConfig, runner: Literal["gcloud", "firebase-tools"]
) -> dict[str, Any]:
    """The run's firebase.json: the committed functions block, pointed at the staged
    source, with the run's emulator ports."""
    committed = committed_firebase_json()
    codebases = committed["functions"]
    if isinstance(codebases, dict):
        codebases = [codebases]
    if len(codebases) != 1:
        raise StartError("firebase.json: the stack knows one functions codebase")
    codebase = {**codebases[0], "source": "functions"}
    with_firestore = runner == "firebase-tools"
    block: dict[str, Any] = {
        "functions": [codebase],
        "emulators": emulators_block(config, firestore=with_firestore),
    }
    if with_firestore:
        block["firestore"] = {"rules": rules_file(config.directory).name}
    return block


def stage_run_functions(functions_dir: Path, *, sandbox_url: str, clock_file: Path) -> None:
    """The functions source the emulator loads (stage_functions), with this run's
    `.env.local` (the sandbox's URL, the clock file) and `.secret.local` (its demo client)."""
    committed = committed_firebase_json()["functions"]
    codebase = committed[0] if isinstance(committed, list) else committed
    stage_functions(ROOT / codebase["source"], codebase.get("ignore", []), functions_dir)
    (functions_dir / ".env.local").write_text(
        "# Written by devtools.stack for this run (emulator only).\n"
        f"KEYLOOP_BASE_URL={sandbox_url}\n"
        f"VISN_DEV_CLOCK_FILE={clock_file}\n"  # visn.infra.clock: tests may pin 'now'
    )
    (functions_dir / ".secret.local").write_text(
        "# The Keyloop sandbox's public demo client (devtools.stack, emulator only).\n"
        f"KEYLOOP_CLIENT_ID={DEFAULT_CLIENT_ID}\n"
        f"KEYLOOP_CLIENT_SECRET={DEFAULT_CLIENT_SECRET}\n"
        f"KEYLOOP_EVENTS_SECRET={DEV_EVENTS_SECRET}\n"
    )
