"""The lock: requirements.txt (what Cloud Functions installs) pins every package a deploy
installs, with hashes, as `make lock` compiled it from the direct pins in requirements.in;
requirements-dev.txt holds the same pins plus the dev tools, and venv/ holds exactly those."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")
_HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: frozenset[str]


def _logical_lines(path: Path) -> list[str]:
    """Lines with comments dropped and backslash continuations joined."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            lines.append(line)
    return lines


def read_lock(path: Path) -> dict[str, Pin]:
    pins: dict[str, Pin] = {}
    for line in _logical_lines(path):
        first, *options = line.split()
        match = _PIN.match(first)
        assert match, f"{path.name}: not a pinned requirement: {line[:80]}"
        assert options, f"{path.name}: {first} has no hash"
        assert all(_HASH.match(o) for o in options), f"{path.name}: {first}: {options}"
        pins[canonicalize_name(match[1])] = Pin(match[2], frozenset(options))
    return pins


def read_direct(path: Path) -> dict[str, str]:
    """The `name==version` pins of a .in file (its -r/-c lines aside)."""
    pins: dict[str, str] = {}
    for line in _logical_lines(path):
        if line.startswith(("-r ", "-c ")):
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert [s.operator for s in specifiers] == ["=="], f"not pinned: {line}"
        pins[canonicalize_name(requirement.name)] = specifiers[0].version
    return pins


RUNTIME = read_lock(ROOT / "requirements.txt")
DEV = read_lock(ROOT / "requirements-dev.txt")


def test_the_direct_pins_are_what_the_lock_pins() -> None:
    direct = read_direct(ROOT / "requirements.in")
    assert direct
    assert {name: RUNTIME[name].version for name in direct if name in RUNTIME} == direct
    dev_direct = read_direct(ROOT / "requirements-dev.in")
    assert {name: DEV[name].version for name in dev_direct if name in DEV} == dev_direct


def test_the_dev_lock_installs_the_runtime_lock_unchanged() -> None:
    assert {name: DEV.get(name) for name in RUNTIME} == RUNTIME


def test_no_machine_local_index_or_path_in_the_locks() -> None:
    for name in ("requirements.txt", "requirements-dev.txt"):
        text = (ROOT / name).read_text()
        for banned in ("--index-url", "--extra-index-url", "--find-links", "file:", "/opt/"):
            assert banned not in text, f"{name} names {banned}"


@pytest.mark.parametrize(("lock_name", "lock"), [("requirements.txt", RUNTIME)])
def test_the_lock_is_complete(lock_name: str, lock: dict[str, Pin]) -> None:
    """Every dependency of every locked package (on Cloud Functions' Linux, Python 3.11) is
    itself locked: nothing a deploy installs is left to float."""
    environment: dict[str, str] = {
        **{k: str(v) for k, v in default_environment().items()},
        "python_version": "3.11",
        "sys_platform": "linux",
        "extra": "",
    }
    missing: set[str] = set()
    for name in lock:
        for spec in metadata.requires(name) or []:
            requirement = Requirement(spec)
            applies = requirement.marker is None or requirement.marker.evaluate(environment)
            if applies and canonicalize_name(requirement.name) not in lock:
                missing.add(f"{requirement.name} (for {name})")
    assert not missing, f"{lock_name} lacks {sorted(missing)}"


def test_venv_holds_exactly_the_locked_versions() -> None:
    """The tests and the emulator run from venv/: what they ran is what a deploy installs."""
    installed = {
        str(canonicalize_name(d.metadata["Name"])): d.version for d in metadata.distributions()
    }
    wrong = {
        name: (pin.version, installed.get(name))
        for name, pin in DEV.items()
        if installed.get(name) != pin.version
    }
    assert not wrong, f"venv/ differs from requirements-dev.txt (run make setup): {wrong}"
