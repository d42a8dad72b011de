"""The stack's configuration: project id, host, ports, run directory, what the emulator serves."""

from __future__ import annotations

import contextlib
import re
import socket
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args

ROOT = Path(__file__).resolve().parent.parent.parent
# The contract's callables (docs/api.md): the stack is up only when the emulator serves all.
CALLABLES = (
    "getAvailability",
    "findFirstAvailable",
    "createBooking",
    "cancelBooking",
    "rearrangeBooking",
)
EVENTS_FUNCTION = "keyloopEvents"  # the sandbox, playing Keyloop, posts its events here
# The x-api-key the sandbox sends and the emulator's keyloopEvents expects (emulator only).
DEV_EVENTS_SECRET = "dev-keyloop-events-secret"  # noqa: S105 (a public dev value)
# Every function main.py declares (what a deploy creates in ViSN's project).
FUNCTIONS = (*CALLABLES, EVENTS_FUNCTION, "reconcileBookings", "syncDmsBookings")
FirestoreMode = Literal["auto", "gcloud", "firebase-tools"]


@dataclass(frozen=True)
class StackConfig:
    """Project id, host and every port the stack listens on. The defaults don't clash with
    each other and match the committed firebase.json's "emulators" block."""

    project: str = "demo-visn"
    host: str = "127.0.0.1"
    sandbox_port: int = 8790
    firestore_port: int = 8380
    auth_port: int = 9099
    functions_port: int = 5001
    hub_port: int = 4400
    logging_port: int = 4500
    eventarc_port: int = 9299
    tasks_port: int = 9499
    console_port: int = 5180  # the dev console's static server (another origin than functions)
    firestore: FirestoreMode = "auto"
    run_dir: Path | None = None  # default: dev/<project> in the project root
    ready_timeout: float = 120.0

    def __post_init__(self) -> None:
        # A demo- project id keeps firebase-tools from reaching any Google service.
        if not re.fullmatch(r"demo-[a-z0-9-]{1,25}", self.project):
            raise ValueError(
                f"project {self.project!r}: use a demo- project id "
                "(lower-case letters, digits and hyphens, at most 30 characters)"
            )
        if self.firestore not in get_args(FirestoreMode):
            raise ValueError(f"firestore must be one of {', '.join(get_args(FirestoreMode))}")
        ports = list(self.ports().values())
        if len(set(ports)) != len(ports):
            raise ValueError(f"every port must be different: {self.ports()}")

    def ports(self) -> dict[str, int]:
        """What listens where, by name, in start order."""
        return {
            name.removesuffix("_port"): int(getattr(self, name))
            for name in (f.name for f in fields(self))
            if name.endswith("_port")
        }

    @classmethod
    def on_free_ports(cls, **overrides: Any) -> StackConfig:
        names = [f.name for f in fields(cls) if f.name.endswith("_port")]
        ports: dict[str, Any] = dict(zip(names, free_ports(len(names)), strict=True))
        return cls(**{**ports, **overrides})

    @property
    def directory(self) -> Path:
        return self.run_dir if self.run_dir is not None else ROOT / "dev" / self.project


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` different ports that were free a moment ago (held together while chosen)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
