"""The whole local stack: `make dev` runs it in the foreground, the end-to-end tests on free ports.

Started in this order, each in its own process group and stopped as a group in reverse order
(the emulators leave java and gunicorn children behind): our Keyloop sandbox, the Firestore
emulator, firebase-tools' functions and auth emulators; then demo data is seeded and the dev
console (devtools/console/, bundled with esbuild) is served on a port of its own, so the page
calls the functions from another origin, as the Web UI does. After a stop every port is
checked free.

Everything a run writes lives in its run directory (`dev/<project>/` for `make dev`, a temporary
directory for the tests), never in the project root:

- `functions/`: the functions source the emulator loads: symlinks to what a deploy uploads
  (the committed firebase.json's functions "ignore" list decides) plus `venv/`, with the
  emulator's `.env.local` (the sandbox's URL) and `.secret.local` (the sandbox's client
  credentials) written into it. Two stacks on different ports (a `make dev` and the
  end-to-end tests, say) therefore never share these files, and the project root gets none.
- `firebase.json`: the committed file's functions block, pointed at `functions/`, with this
  run's "emulators" ports (the committed "emulators" block holds the defaults).
- `console/`: the dev console as served: index.html, style.css, app.js bundled with the
  Firebase JS SDK, and `config.json` (where the emulators are, the demo logins and suppliers).
- `logs/`, and `stack.json`: the addresses and demo logins, for scripts and `node --test`.

Firestore: firebase-tools' own emulator needs Java 21 and downloads its jar. Where that can work
it runs it; otherwise the Google Cloud CLI's emulator runs and the functions reach it through
FIRESTORE_EMULATOR_HOST in firebase-tools' environment: each Python worker is started with
firebase-tools' environment plus the function's (functions/python.js `runWithVirtualEnv`), and
firebase-tools sets FIRESTORE_EMULATOR_HOST itself only for an emulator it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Literal, NoReturn, cast, get_args
from zoneinfo import ZoneInfo

import requests

from keyloop_sandbox.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from visn.settings import REGION
from visn.suppliers import supplier_zone

from .firestore_emulator import FirestoreEmulator
from .firestore_rules import assembled_standin
from .processes import ProcessGroup, StartError, http_ok, port_is_free
from .seed import (
    APPOINTMENT_OPTIONS,
    DEMO_COUNTER_SHARDS,
    DEMO_SUPPLIERS,
    DEMO_USERS,
    ENQUIRY_COUNTER,
    IE_SUPPLIER,
    NO_DIARY_SUPPLIER,
    SERVICE_PRODUCTS,
    UK_SUPPLIER,
)

ROOT = Path(__file__).resolve().parent.parent
FIREBASE_BIN = ROOT / "node_modules" / ".bin" / "firebase"
ESBUILD_BIN = ROOT / "node_modules" / ".bin" / "esbuild"
CONSOLE_SOURCE = ROOT / "devtools" / "console"
CONSOLE_STATIC = ("index.html", "style.css")  # copied as they are; app.js is bundled
# The contract's callables (docs/api.md): the stack is up only when the emulator serves all.
CALLABLES = ("getAvailability", "createBooking", "cancelBooking", "rearrangeBooking")
EVENTS_FUNCTION = "keyloopEvents"  # the sandbox, playing Keyloop, posts its events here
# The x-api-key the sandbox sends and the emulator's keyloopEvents expects (emulator only).
DEV_EVENTS_SECRET = "dev-keyloop-events-secret"  # noqa: S105 (a public dev value)
FirestoreMode = Literal["auto", "gcloud", "firebase-tools"]
# firebase-tools logs this, and then still reports "All emulators ready!".
LOAD_FAILED = "Failed to load function definition"
OWNER = {"Authorization": "Bearer owner"}  # the emulators' admin bearer, not a credential
SANDBOX_READY_TIMEOUT = 30.0
CONSOLE_READY_TIMEOUT = 30.0
BUNDLE_TIMEOUT = 120.0  # a guard against a hang; esbuild takes well under a second
FIREBASE_STOP_GRACE = 10.0
PORTS_FREE_TIMEOUT = 10.0
ENV_NOT_INHERITED = (
    "FIRESTORE_EMULATOR_HOST",
    "FIREBASE_AUTH_EMULATOR_HOST",
    "GOOGLE_APPLICATION_CREDENTIALS",
)


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


def demo_slot(now: datetime, timezone: str = "Europe/London") -> datetime:
    """09:00 local, three or more days ahead, on a day the sandbox's store ENT-1001 opens
    (Monday to Saturday): a slot the printed curl can book."""
    zone = ZoneInfo(timezone)
    day: date = now.astimezone(zone).date() + timedelta(days=3)
    while day.weekday() == 6:  # Sunday
        day += timedelta(days=1)
    return datetime.combine(day, clock_time(9, 0), tzinfo=zone)


class Stack:
    """The sandbox, Firestore, and firebase-tools' functions and auth emulators, seeded.

    `with Stack(config) as stack:` starts everything (or stops whatever did start, and
    raises StartError with the log tail), and stops it all on the way out."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.firestore_runner = firestore_runner(self.config.firestore)
        self.timings: dict[str, float] = {}
        self.users: list[dict[str, str]] = []
        self.launched = False  # whether start() got as far as starting a process
        self.http = requests.Session()
        self._sandbox: ProcessGroup | None = None
        self._firestore: FirestoreEmulator | None = None
        self._firebase: ProcessGroup | None = None
        self._console: ProcessGroup | None = None

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return self.config.directory

    @property
    def log_dir(self) -> Path:
        return self.directory / "logs"

    @property
    def functions_dir(self) -> Path:
        return self.directory / "functions"

    @property
    def firebase_log(self) -> Path:
        return self.log_dir / "firebase.log"

    def _url(self, port: int) -> str:
        return f"http://{self.config.host}:{port}"

    @property
    def sandbox_url(self) -> str:
        return self._url(self.config.sandbox_port)

    @property
    def firestore_host(self) -> str:
        return f"{self.config.host}:{self.config.firestore_port}"

    @property
    def auth_url(self) -> str:
        return self._url(self.config.auth_port)

    @property
    def functions_url(self) -> str:
        return self._url(self.config.functions_port)

    @property
    def console_url(self) -> str:
        return self._url(self.config.console_port)

    @property
    def console_dir(self) -> Path:
        return self.directory / "console"

    def callable_url(self, name: str) -> str:
        return f"{self.functions_url}/{self.config.project}/{REGION}/{name}"

    @property
    def clock_file(self) -> Path:
        """Holds an ISO instant while a test pins the functions' clock (visn.clock)."""
        return self.directory / "clock"

    def describe(self) -> dict[str, Any]:
        """Where everything is, for scripts and the JS tests (written to stack.json)."""
        return {
            "project": self.config.project,
            "region": REGION,
            "host": self.config.host,
            "sandboxUrl": self.sandbox_url,
            "firestoreHost": self.firestore_host,
            "authPort": self.config.auth_port,
            "functionsPort": self.config.functions_port,
            "consoleUrl": self.console_url,
            "callables": {name: self.callable_url(name) for name in CALLABLES},
            "keyloopEventsUrl": self.callable_url(EVENTS_FUNCTION),
            "eventsSecret": DEV_EVENTS_SECRET,
            "suppliers": {"uk": UK_SUPPLIER, "ie": IE_SUPPLIER, "noDiary": NO_DIARY_SUPPLIER},
            "users": self.users,
            "clockFile": str(self.clock_file),
        }

    # -- start and stop --------------------------------------------------------------------

    def start(self, progress: Callable[[str], None] | None = None) -> None:
        say = progress or (lambda _: None)
        began = time.monotonic()
        try:
            self._check_ports_free()
            config_path = self._prepare_run_directory()
            self.launched = True
            self._start_sandbox()
            self._mark("sandbox", began)
            say(f"Keyloop sandbox        {self.sandbox_url}  ({self.timings['sandbox']:.1f} s)")
            if self.firestore_runner == "gcloud":
                self._firestore = FirestoreEmulator(
                    self.config.project,
                    self.config.host,
                    self.config.firestore_port,
                    self.log_dir,
                    rules=self._rules_file(),
                )
                self._mark("firestore", began)
                say(
                    f"Firestore emulator     {self.firestore_host} (Google Cloud CLI)  "
                    f"({self.timings['firestore']:.1f} s)"
                )
            self._start_firebase(config_path)
            self._wait_for_functions()
            self._mark("functions", began)
            say(
                f"Functions and Auth     {self.functions_url}, {self.auth_url}  "
                f"({self.timings['functions']:.1f} s)"
            )
            self.seed()
            self._mark("seeded", began)
            self.build_console()
            self._start_console()
            self._mark("console", began)
            say(f"Dev console            {self.console_url}  ({self.timings['console']:.1f} s)")
            (self.directory / "stack.json").write_text(json.dumps(self.describe(), indent=2))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> list[int]:
        """Stop every process group, last started first; returns the ports still held (none
        when nothing had started: a port someone else holds is not ours to wait for)."""
        started = any(
            p is not None for p in (self._console, self._firebase, self._firestore, self._sandbox)
        )
        if self._console is not None:
            self._console.stop()
            self._console = None
        if self._firebase is not None:
            self._firebase.stop(grace=FIREBASE_STOP_GRACE)
            self._firebase = None
        if self._firestore is not None:
            self._firestore.stop()
            self._firestore = None
        if self._sandbox is not None:
            self._sandbox.stop()
            self._sandbox = None
        self.http.close()
        return self.wait_ports_free() if started else []

    def process_groups(self) -> list[int]:
        """The process group ids of the sandbox, firebase-tools and the console's server while
        they run."""
        groups = (self._sandbox, self._firebase, self._console)
        return [g.process.pid for g in groups if g is not None]

    def held_ports(self) -> list[int]:
        return [p for p in self.config.ports().values() if not port_is_free(p, self.config.host)]

    def wait_ports_free(self, timeout: float = PORTS_FREE_TIMEOUT) -> list[int]:
        deadline = time.monotonic() + timeout
        while (held := self.held_ports()) and time.monotonic() < deadline:
            time.sleep(0.2)
        return held

    def _mark(self, what: str, began: float) -> None:
        self.timings[what] = time.monotonic() - began

    def _check_ports_free(self) -> None:
        busy = self.held_ports()
        held = {name: port for name, port in self.config.ports().items() if port in busy}
        if held:
            taken = ", ".join(f"{name} {port}" for name, port in held.items())
            raise StartError(
                f"ports already in use: {taken}. Another `make dev`? "
                "Choose others, e.g. `make dev FUNCTIONS_PORT=5002`."
            )

    def _committed_firebase_json(self) -> dict[str, Any]:
        return cast(dict[str, Any], json.loads((ROOT / "firebase.json").read_text()))

    def _rules_file(self) -> Path:
        """The run's rules: a stand-in for ViSN's own with our block merged in, as a ViSN
        project has them (firebase.json deploys no rules of ours)."""
        path = self.directory / "firestore.rules"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(assembled_standin())
        return path

    def firebase_config(self) -> dict[str, Any]:
        """The run's firebase.json: the committed functions block, pointed at the staged
        source, with the run's emulator ports."""
        committed = self._committed_firebase_json()
        codebases = committed["functions"]
        if isinstance(codebases, dict):
            codebases = [codebases]
        if len(codebases) != 1:
            raise StartError("firebase.json: the stack knows one functions codebase")
        codebase = {**codebases[0], "source": "functions"}
        with_firestore = self.firestore_runner == "firebase-tools"
        config: dict[str, Any] = {
            "functions": [codebase],
            "emulators": emulators_block(self.config, firestore=with_firestore),
        }
        if with_firestore:
            config["firestore"] = {"rules": self._rules_file().name}
        return config

    def _prepare_run_directory(self) -> Path:
        committed = self._committed_firebase_json()["functions"]
        codebase = committed[0] if isinstance(committed, list) else committed
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stage_functions(ROOT / codebase["source"], codebase.get("ignore", []), self.functions_dir)
        (self.functions_dir / ".env.local").write_text(
            "# Written by devtools.stack for this run (emulator only).\n"
            f"KEYLOOP_BASE_URL={self.sandbox_url}\n"
            f"VISN_DEV_CLOCK_FILE={self.clock_file}\n"  # visn.clock: tests may pin 'now'
        )
        (self.functions_dir / ".secret.local").write_text(
            "# The Keyloop sandbox's public demo client (devtools.stack, emulator only).\n"
            f"KEYLOOP_CLIENT_ID={DEFAULT_CLIENT_ID}\n"
            f"KEYLOOP_CLIENT_SECRET={DEFAULT_CLIENT_SECRET}\n"
            f"KEYLOOP_EVENTS_SECRET={DEV_EVENTS_SECRET}\n"
        )
        config = self.firebase_config()
        path = self.directory / "firebase.json"
        path.write_text(json.dumps(config, indent=2) + "\n")
        return path

    def _start_sandbox(self) -> None:
        self._sandbox = ProcessGroup(
            "keyloop-sandbox",
            [
                sys.executable,
                "-m",
                "keyloop_sandbox",
                "--host",
                self.config.host,
                "--port",
                str(self.config.sandbox_port),
                # Keyloop's Event Subscription, played by the sandbox: dealer changes are
                # posted to the emulator's keyloopEvents (kept across /_sandbox/reset).
                "--subscribe",
                self.callable_url(EVENTS_FUNCTION),
                "--events-secret",
                DEV_EVENTS_SECRET,
            ],
            log_path=self.log_dir / "sandbox.log",
            cwd=ROOT,
        )
        self._sandbox.wait_until(
            lambda: http_ok(f"{self.sandbox_url}/_sandbox/health"), SANDBOX_READY_TIMEOUT
        )

    def _start_firebase(self, config_path: Path) -> None:
        if not FIREBASE_BIN.exists():
            raise StartError(f"{FIREBASE_BIN} is missing: run `make setup`")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEYLOOP_")}
        for name in ENV_NOT_INHERITED:
            env.pop(name, None)
        only = "functions,auth"
        if self.firestore_runner == "gcloud":
            env["FIRESTORE_EMULATOR_HOST"] = self.firestore_host
        else:
            only += ",firestore"
        env["FUNCTIONS_DISCOVERY_TIMEOUT"] = "60"  # seconds; a loaded CI machine is slow
        # No Google metadata server to look for: offline that probe costs about 10 s.
        env["METADATA_SERVER_DETECTION"] = "none"
        self._firebase = ProcessGroup(
            "firebase-tools",
            [
                str(FIREBASE_BIN),
                "emulators:start",
                "--only",
                only,
                "--project",
                self.config.project,
                "--config",
                str(config_path),
            ],
            log_path=self.firebase_log,
            env=env,
            cwd=self.directory,  # firebase-debug.log lands here
        )

    # -- the dev console -------------------------------------------------------------------

    def console_config(self) -> dict[str, Any]:
        """config.json, next to the page: where the emulators are, the demo logins and
        suppliers. The page names no port of its own."""
        suppliers = []
        for supplier_id, document in DEMO_SUPPLIERS.items():
            diary = document.get("liveDiaryProvider") or {}
            suppliers.append(
                {
                    "id": supplier_id,
                    "name": document["name"],
                    "timezone": supplier_zone(document).key,
                    "serviceTypes": list(diary.get("serviceTypeMapping", {})),
                    "optionalServices": list(diary.get("optionalServiceMapping", {})),
                }
            )
        return {
            "project": self.config.project,
            "region": REGION,
            "apiKey": "demo-key",  # the emulators accept any key
            "authUrl": self.auth_url,
            "functions": {"host": self.config.host, "port": self.config.functions_port},
            # The page listens to its enquiry (onSnapshot), as the Web UI learns of changes.
            "firestore": {"host": self.config.host, "port": self.config.firestore_port},
            "users": [
                {k: user[k] for k in ("email", "password", "customerId")}
                for user in (self.users or DEMO_USERS)
            ],
            "suppliers": suppliers,
            "serviceTypes": list(SERVICE_PRODUCTS),
            "optionalServices": list(APPOINTMENT_OPTIONS),
        }

    def build_console(self) -> None:
        """The page into `console/`: the static files copied, app.js bundled with the Firebase
        JS SDK by esbuild (a browser cannot import bare specifiers), config.json written."""
        if not ESBUILD_BIN.exists():
            raise StartError(f"{ESBUILD_BIN} is missing: run `make setup`")
        self.console_dir.mkdir(parents=True, exist_ok=True)
        for name in CONSOLE_STATIC:
            shutil.copyfile(CONSOLE_SOURCE / name, self.console_dir / name)
        try:
            done = subprocess.run(  # noqa: S603 (our own fixed command)
                [
                    str(ESBUILD_BIN),
                    str(CONSOLE_SOURCE / "app.js"),
                    "--bundle",
                    "--format=esm",
                    "--platform=browser",
                    "--target=es2022",
                    "--sourcemap",
                    "--log-level=warning",
                    f"--outfile={self.console_dir / 'app.js'}",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=BUNDLE_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StartError(f"bundling the dev console failed: {exc}") from exc
        if done.returncode != 0:
            raise StartError(f"bundling the dev console failed:\n{done.stderr.strip()}")
        (self.console_dir / "config.json").write_text(
            json.dumps(self.console_config(), indent=2) + "\n"
        )

    def _start_console(self) -> None:
        self._console = ProcessGroup(
            "dev-console",
            [
                sys.executable,
                "-m",
                "http.server",
                "--bind",
                self.config.host,
                "--directory",
                str(self.console_dir),
                str(self.config.console_port),
            ],
            log_path=self.log_dir / "console.log",
            cwd=self.directory,
        )
        self._console.wait_until(
            lambda: http_ok(f"{self.console_url}/config.json"), CONSOLE_READY_TIMEOUT
        )

    # -- readiness -------------------------------------------------------------------------

    def loaded_callables(self) -> set[str]:
        """The callables the functions emulator has loaded, in the contract's region."""
        try:
            response = self.http.get(f"{self.functions_url}/backends", timeout=5)
            backends = response.json()["backends"] if response.ok else []
        except (requests.RequestException, ValueError, KeyError):
            return set()
        return {
            str(trigger.get("entryPoint"))
            for backend in backends
            for trigger in backend.get("functionTriggers", [])
            if trigger.get("region") == REGION
            and "httpsTrigger" in trigger
            and trigger.get("labels", {}).get("deployment-callable") == "true"
        }

    def serves_callable(self, name: str) -> bool:
        """A signed-out call gets our own UNAUTHENTICATED (with `details.reason`): the worker
        imported main.py and runs our code, rather than the emulator answering "Function ...
        does not exist"."""
        try:
            response = self.http.post(self.callable_url(name), json={"data": None}, timeout=30)
            error = response.json().get("error")
        except (requests.RequestException, ValueError, AttributeError):
            return False
        return (
            response.status_code == 401
            and isinstance(error, dict)
            and (error.get("details") or {}).get("reason") == "UNAUTHENTICATED"
        )

    def serves_events(self) -> bool:
        """keyloopEvents answers a POST without the key with its own 401 (the worker runs our
        code), not the emulator's 404 for a function it does not know."""
        try:
            response = self.http.post(self.callable_url(EVENTS_FUNCTION), data=b"{}", timeout=30)
        except requests.RequestException:
            return False
        return response.status_code == 401

    def _wait_for_functions(self) -> None:
        group = cast(ProcessGroup, self._firebase)

        def ready() -> bool:
            if LOAD_FAILED in self.firebase_log.read_text(errors="replace"):
                self._not_loaded(group, "firebase-tools could not load the functions")
            if self.firestore_runner == "firebase-tools" and not http_ok(
                f"http://{self.firestore_host}/"
            ):
                return False
            if not http_ok(f"{self.auth_url}/") or not set(CALLABLES) <= self.loaded_callables():
                return False
            return all(self.serves_callable(name) for name in CALLABLES) and self.serves_events()

        try:
            group.wait_until(ready, self.config.ready_timeout)
        except StartError as exc:
            if "could not load" in str(exc):
                raise
            self._not_loaded(group, str(exc).splitlines()[0])

    def _not_loaded(self, group: ProcessGroup, what: str) -> NoReturn:
        loaded = self.loaded_callables()
        missing = [name for name in CALLABLES if name not in loaded]
        raise StartError(
            f"{what}; callables not loaded: {', '.join(missing) or 'none'} "
            f"(firebase.json's runtime must name the Python that built venv/: `make setup`). "
            f"Log {group.log_path}:\n{group.log_tail(40)}"
        )

    # -- demo data -------------------------------------------------------------------------

    def seed(self) -> None:
        """Demo suppliers and ViSN's enquiry number counter into Firestore, demo users (with
        customerId claims) into Auth."""
        for supplier_id, document in DEMO_SUPPLIERS.items():
            self.put_document("suppliers", supplier_id, document)
        for shard_id, shard in DEMO_COUNTER_SHARDS.items():
            self.put_document(ENQUIRY_COUNTER, shard_id, shard)
        self.users = [self._create_user(user) for user in DEMO_USERS]

    def document_url(self, collection: str, doc_id: str) -> str:
        return (
            f"http://{self.firestore_host}/v1/projects/{self.config.project}"
            f"/databases/(default)/documents/{collection}/{doc_id}"
        )

    def put_document(self, collection: str, doc_id: str, document: dict[str, Any]) -> None:
        response = self.http.patch(
            self.document_url(collection, doc_id),
            json={"fields": {k: firestore_value(v) for k, v in document.items()}},
            headers=OWNER,
            timeout=10,
        )
        _raise_for(response, f"writing {collection}/{doc_id}")

    def get_document(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        response = self.http.get(self.document_url(collection, doc_id), headers=OWNER, timeout=10)
        if response.status_code == 404:
            return None
        _raise_for(response, f"reading {collection}/{doc_id}")
        return {k: from_firestore_value(v) for k, v in response.json().get("fields", {}).items()}

    def _create_user(self, user: dict[str, str]) -> dict[str, str]:
        accounts = (
            f"{self.auth_url}/identitytoolkit.googleapis.com/v1/projects/{self.config.project}"
            "/accounts"
        )
        response = self.http.post(
            accounts,
            json={"email": user["email"], "password": user["password"]},
            headers=OWNER,
            timeout=10,
        )
        _raise_for(response, "creating a demo user")
        uid = str(response.json()["localId"])
        # Account creation ignores customAttributes; the claims need an update.
        claims = json.dumps({"customerId": user["customerId"]})
        response = self.http.post(
            f"{accounts}:update",
            json={"localId": uid, "customAttributes": claims},
            headers=OWNER,
            timeout=10,
        )
        _raise_for(response, "setting a demo user's claims")
        return {**user, "uid": uid}


def _raise_for(response: requests.Response, what: str) -> None:
    if not response.ok:
        # The status only: bodies may echo what was sent.
        raise StartError(f"{what} failed: HTTP {response.status_code}")


def firestore_value(value: Any) -> dict[str, Any]:
    """A plain JSON value in the Firestore REST API's typed form."""
    if value is None:
        return {"nullValue": None}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"integerValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, dict):
        return {"mapValue": {"fields": {str(k): firestore_value(v) for k, v in value.items()}}}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [firestore_value(v) for v in value]}}
    raise TypeError(f"cannot store a {type(value).__name__} in Firestore")


def from_firestore_value(value: dict[str, Any]) -> Any:
    """The inverse of firestore_value (timestamps stay ISO strings)."""
    (kind, inner), *_ = value.items()
    if kind == "integerValue":
        return int(inner)
    if kind == "mapValue":
        return {k: from_firestore_value(v) for k, v in inner.get("fields", {}).items()}
    if kind == "arrayValue":
        return [from_firestore_value(v) for v in inner.get("values", [])]
    return inner


# -- `python -m devtools.stack` (make dev) ----------------------------------------------------


def banner(stack: Stack, now: datetime | None = None, *, follow: bool = True) -> str:
    """What a new engineer needs: URLs, logins, a curl that books a slot, a JS SDK snippet."""
    cfg = stack.config
    user = stack.users[0] if stack.users else dict(DEMO_USERS[0])
    start = demo_slot(now or datetime.now().astimezone())
    booking = {
        "data": {
            "idempotencyKey": f"make-dev-demo-{start:%Y%m%d}",
            "supplierId": UK_SUPPLIER,
            "serviceTypes": ["SERVICE", "MOT"],
            "slot": {"start": start.isoformat()},
            "vehicle": {"registration": "AB12 CDE"},
            "contact": {"givenName": "Ada", "familyName": "Lovelace"},
        }
    }
    sign_in = _compact(
        {"email": user["email"], "password": user["password"], "returnSecureToken": True}
    )
    runner = "Google Cloud CLI" if stack.firestore_runner == "gcloud" else "firebase-tools"
    logs = _relative(stack.log_dir)
    moved_to = f"{(start + timedelta(hours=2)).astimezone(ZoneInfo('UTC')):%Y-%m-%dT%H:%M:%S}.000Z"
    lines = [
        "",
        f"ViSN local stack up for project {cfg.project} "
        f"in {stack.timings.get('seeded', 0.0):.0f} s:",
        f"  Keyloop sandbox     {stack.sandbox_url}  (GET /_sandbox/appointments)",
        f"  Firestore emulator  {stack.firestore_host}  ({runner})",
        f"  Auth emulator       {stack.auth_url}",
        f"  Functions emulator  {stack.functions_url}",
        f"  Dev console         {stack.console_url}  (sign in, see slots, book, move, cancel)",
        "",
        f"Callables (region {REGION}):",
        *(f"  {stack.callable_url(name)}" for name in CALLABLES),
        "",
        "Demo logins (email / password, custom claim customerId):",
        *(
            f"  {u['email']} / {u['password']}  customerId={u['customerId']}"
            for u in (stack.users or DEMO_USERS)
        ),
        f"Suppliers: {UK_SUPPLIER} (Keyloop), {IE_SUPPLIER} (Keyloop, localTimes), "
        f"{NO_DIARY_SUPPLIER} (no live diary)",
        "",
        "Book a slot with curl (an ID token from the Auth emulator first):",
        f"  TOKEN=$(curl -s '{stack.auth_url}/identitytoolkit.googleapis.com/v1/"
        "accounts:signInWithPassword?key=any' \\",
        f"    -H 'Content-Type: application/json' -d '{sign_in}' \\",
        "    | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"idToken\"])')",
        f"  curl -s {stack.callable_url('createBooking')} \\",
        "    -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\",
        f"    -d '{_compact(booking)}'",
        f"  curl -s {stack.sandbox_url}/_sandbox/appointments",
        "",
        "Play the dealer: move, cancel or complete it in the DMS (the sandbox posts a Keyloop",
        f"event to {stack.callable_url(EVENTS_FUNCTION)}; the dev console's card follows):",
        f"  curl -s -X POST {stack.sandbox_url}/_sandbox/appointments/APPOINTMENT_ID/move \\",
        f"    -d '{_compact({'dueInDateTime': moved_to})}'",
        f"  curl -s -X POST {stack.sandbox_url}/_sandbox/appointments/APPOINTMENT_ID/cancel",
        "Re-read every booked enquiry from the DMS now (the polling safety net, by hand):",
        f"  GCLOUD_PROJECT={cfg.project} FIRESTORE_EMULATOR_HOST={stack.firestore_host} "
        f"KEYLOOP_BASE_URL={stack.sandbox_url} \\",
        f"    KEYLOOP_CLIENT_ID={DEFAULT_CLIENT_ID} KEYLOOP_CLIENT_SECRET={DEFAULT_CLIENT_SECRET} "
        "venv/bin/python -m visn sync",
        "",
        "The same from the Firebase JS SDK (npm package firebase):",
        '  import { initializeApp } from "firebase/app";',
        "  import { getAuth, connectAuthEmulator, signInWithEmailAndPassword }",
        '    from "firebase/auth";',
        "  import { getFunctions, connectFunctionsEmulator, httpsCallable }",
        '    from "firebase/functions";',
        f'  const app = initializeApp({{ projectId: "{cfg.project}", apiKey: "demo-key" }});',
        "  const auth = getAuth(app);",
        f'  connectAuthEmulator(auth, "{stack.auth_url}");',
        f'  await signInWithEmailAndPassword(auth, "{user["email"]}", "{user["password"]}");',
        f'  const functions = getFunctions(app, "{REGION}");',
        f'  connectFunctionsEmulator(functions, "{cfg.host}", {cfg.functions_port});',
        '  const { data } = await httpsCallable(functions, "getAvailability")({',
        f'    supplierId: "{UK_SUPPLIER}", date: "{start:%Y-%m-%d}",',
        '    serviceTypes: ["SERVICE"] });',
        "  console.log(data.days[0].slots);",
        "",
        f"Logs: {logs}/ (sandbox.log, firestore-emulator.log, firebase.log, console.log).",
        "Function logs follow. Ctrl-C stops everything." if follow else "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _relative(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def follow(path: Path, offset: int, interval: float = 0.3) -> NoReturn:
    """Print what is appended to `path` from `offset` on, until interrupted."""
    with path.open("rb") as log:
        log.seek(offset)
        while True:
            chunk = log.read()
            if chunk:
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
            else:
                time.sleep(interval)


def wait_forever() -> NoReturn:
    while True:
        signal.pause()


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _parser() -> argparse.ArgumentParser:
    defaults = StackConfig()
    parser = argparse.ArgumentParser(
        prog="python -m devtools.stack",
        description="Run the local stack (sandbox, Firestore, functions and auth emulators) "
        "until Ctrl-C.",
    )
    parser.add_argument("--project", default=defaults.project)
    parser.add_argument("--host", default=defaults.host)
    for name, port in defaults.ports().items():
        parser.add_argument(f"--{name}-port", type=int, default=port, metavar="PORT")
    parser.add_argument("--firestore", choices=get_args(FirestoreMode), default="auto")
    parser.add_argument(
        "--no-follow", action="store_true", help="don't print the function logs after start"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = StackConfig(
            project=args.project,
            host=args.host,
            firestore=args.firestore,
            **{f"{name}_port": getattr(args, f"{name}_port") for name in StackConfig().ports()},
        )
    except ValueError as exc:
        print(f"devtools.stack: {exc}", file=sys.stderr)
        return 2
    # Ctrl-C, kill and a closed terminal all stop the stack. SIGINT explicitly: a shell that
    # starts us in the background hands it down ignored, and Python then never raises for it.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    stack = Stack(config)
    code = 0
    try:
        print(f"Starting the local stack for {config.project} ...", flush=True)
        stack.start(progress=lambda line: print(f"  {line}", flush=True))
        offset = stack.firebase_log.stat().st_size
        print(banner(stack, follow=not args.no_follow), flush=True)
        if args.no_follow:
            wait_forever()
        else:
            follow(stack.firebase_log, offset)
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
    except StartError as exc:
        print(f"devtools.stack: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        with _signals_ignored():
            stack.stop()
        held = stack.held_ports() if stack.launched else []
        if not stack.launched:
            pass  # it failed before starting anything: nothing to report
        elif held:
            print(f"devtools.stack: ports still held: {held}", file=sys.stderr, flush=True)
            code = code or 1
        else:
            ports = ", ".join(str(p) for p in config.ports().values())
            print(f"Stopped. Ports {ports} are free.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
