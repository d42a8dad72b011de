"""The dev console page: its config.json, its bundle (esbuild), and the server on its own port."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from visn.infra.settings import REGION
from visn.records.suppliers import supplier_zone

from ..processes import ProcessGroup, StartError, http_ok
from ..seed import APPOINTMENT_OPTIONS, DEMO_SUPPLIERS, DEMO_USERS, SERVICE_PRODUCTS
from .config import ROOT, StackConfig

ESBUILD_BIN = ROOT / "node_modules" / ".bin" / "esbuild"
CONSOLE_SOURCE = ROOT / "devtools" / "console"
CONSOLE_STATIC = ("index.html", "style.css")  # copied as they are; app.js is bundled
CONSOLE_READY_TIMEOUT = 30.0
BUNDLE_TIMEOUT = 120.0  # a guard against a hang; esbuild takes well under a second


def console_config(
    config: StackConfig, auth_url: str, users: Sequence[dict[str, str]]
) -> dict[str, Any]:
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
        "project": config.project,
        "region": REGION,
        "apiKey": "demo-key",  # the emulators accept any key
        "authUrl": auth_url,
        "functions": {"host": config.host, "port": config.functions_port},
        # The page listens to its enquiry (onSnapshot), as the Web UI learns of changes.
        "firestore": {"host": config.host, "port": config.firestore_port},
        "users": [
            {k: user[k] for k in ("email", "password", "customerId")}
            for user in (users or DEMO_USERS)
        ],
        "suppliers": suppliers,
        "serviceTypes": list(SERVICE_PRODUCTS),
        "optionalServices": list(APPOINTMENT_OPTIONS),
    }


def build_console(into: Path, config_json: dict[str, Any]) -> None:
    """The page into `into`: the static files copied, app.js bundled with the Firebase JS SDK
    by esbuild (a browser cannot import bare specifiers), config.json written."""
    if not ESBUILD_BIN.exists():
        raise StartError(f"{ESBUILD_BIN} is missing: run `make setup`")
    into.mkdir(parents=True, exist_ok=True)
    for name in CONSOLE_STATIC:
        shutil.copyfile(CONSOLE_SOURCE / name, into / name)
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
                f"--outfile={into / 'app.js'}",
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
    (into / "config.json").write_text(json.dumps(config_json, indent=2) + "\n")


def start_console(config: StackConfig, directory: Path, log_path: Path) -> ProcessGroup:
    """A static server for the built page in `directory`, on the console's port, ready."""
    console = ProcessGroup(
        "dev-console",
        [
            sys.executable,
            "-m",
            "http.server",
            "--bind",
            config.host,
            "--directory",
            str(directory),
            str(config.console_port),
        ],
        log_path=log_path,
        cwd=config.directory,
    )
    url = f"http://{config.host}:{config.console_port}"
    console.wait_until(lambda: http_ok(f"{url}/config.json"), CONSOLE_READY_TIMEOUT)
    return console
