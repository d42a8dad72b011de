"""The Stack: starts its processes in order, each in its own group, waits till ready, stops them."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, cast

import requests

from visn.infra.settings import REGION

from ..firestore_emulator import FirestoreEmulator
from ..processes import ProcessGroup, StartError, http_ok, port_is_free
from ..seed import IE_SUPPLIER, NO_DIARY_SUPPLIER, UK_SUPPLIER
from . import console, readiness, staging
from .config import CALLABLES, DEV_EVENTS_SECRET, EVENTS_FUNCTION, ROOT, StackConfig
from .seeding import EmulatorData

FIREBASE_BIN = ROOT / "node_modules" / ".bin" / "firebase"
SANDBOX_READY_TIMEOUT = 30.0
FIREBASE_STOP_GRACE = 10.0
PORTS_FREE_TIMEOUT = 10.0
ENV_NOT_INHERITED = (
    "FIRESTORE_EMULATOR_HOST",
    "FIREBASE_AUTH_EMULATOR_HOST",
    "GOOGLE_APPLICATION_CREDENTIALS",
)


class Stack:
    """The sandbox, Firestore, and firebase-tools' functions and auth emulators, seeded.

    `with Stack(config) as stack:` starts everything (or stops whatever did start, and
    raises StartError with the log tail), and stops it all on the way out."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.firestore_runner = staging.firestore_runner(self.config.firestore)
        self.timings: dict[str, float] = {}
        self.users: list[dict[str, str]] = []
        self.launched = False  # whether start() got as far as starting a process
        self.http = requests.Session()
        self._data = EmulatorData(
            self.http, self.config.project, self.firestore_host, self.auth_url
        )
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
        """Holds an ISO instant while a test pins the functions' clock (visn.infra.clock)."""
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
                    rules=staging.rules_file(self.directory),
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

    # -- run files (staging) ---------------------------------------------------------------

    def firebase_config(self) -> dict[str, Any]:
        """The run's firebase.json (staging.firebase_config)."""
        return staging.firebase_config(self.config, self.firestore_runner)

    def _prepare_run_directory(self) -> Path:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        staging.stage_run_functions(
            self.functions_dir, sandbox_url=self.sandbox_url, clock_file=self.clock_file
        )
        path = self.directory / "firebase.json"
        path.write_text(json.dumps(self.firebase_config(), indent=2) + "\n")
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
        return console.console_config(self.config, self.auth_url, self.users)

    def build_console(self) -> None:
        console.build_console(self.console_dir, self.console_config())

    def _start_console(self) -> None:
        self._console = console.start_console(
            self.config, self.console_dir, self.log_dir / "console.log"
        )

    # -- readiness -------------------------------------------------------------------------

    def loaded_callables(self) -> set[str]:
        return readiness.loaded_callables(self.http, self.functions_url)

    def serves_callable(self, name: str) -> bool:
        return readiness.serves_callable(self.http, self.callable_url(name))

    def serves_events(self) -> bool:
        return readiness.serves_events(self.http, self.callable_url(EVENTS_FUNCTION))

    def _wait_for_functions(self) -> None:
        group = cast(ProcessGroup, self._firebase)

        def ready() -> bool:
            if readiness.LOAD_FAILED in self.firebase_log.read_text(errors="replace"):
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
        """Demo suppliers, ViSN's counter and demo users (seeding.EmulatorData.seed)."""
        self.users = self._data.seed()

    def put_document(self, collection: str, doc_id: str, document: dict[str, Any]) -> None:
        self._data.put_document(collection, doc_id, document)

    def get_document(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        return self._data.get_document(collection, doc_id)
