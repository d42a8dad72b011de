"""The dev console in a real browser: Playwright (playwright-core) drives Debian's chromium,
headless, through the book → rearrange → cancel journey and two errors (console.test.mjs).

The page is served by the stack's own static server, on another port than the functions
emulator, so every callable request is cross-origin and CORS is exercised for real. The stack
is the session's (tests/conftest.py), shared with tests/e2e.

No chromium, or one that cannot start: a skip locally, a failure in CI (`CI=true`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import requests

from devtools.stack.config import ROOT
from devtools.stack.lifecycle import Stack
from tests.conftest import _unavailable

NODE_TIMEOUT = 300  # a guard against a hang, not a performance bound
# What console.test.mjs prints when chromium does not launch (not a failure of the page).
LAUNCH_FAILED = "VISN_BROWSER_LAUNCH_FAILED"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def chromium() -> str:
    """Debian's chromium: VISN_CHROMIUM, else `chromium` on PATH, else /usr/bin/chromium."""
    for candidate in (os.environ.get("VISN_CHROMIUM"), shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    _unavailable(
        "chromium",
        FileNotFoundError("no chromium (apt-get install chromium; .ci/run installs it)"),
    )
    raise AssertionError("unreachable")


def test_the_console_is_served_from_its_own_origin(stack: Stack) -> None:
    console, functions = urlsplit(stack.console_url), urlsplit(stack.functions_url)
    assert (console.hostname, console.port) != (functions.hostname, functions.port)

    page = requests.get(f"{stack.console_url}/", timeout=10)
    assert page.status_code == 200
    assert '<script type="module" src="app.js">' in page.text

    config = requests.get(f"{stack.console_url}/config.json", timeout=10).json()
    assert config["functions"] == {"host": stack.config.host, "port": stack.config.functions_port}
    assert config["authUrl"] == stack.auth_url
    assert config["region"] == "europe-west2"
    assert [u["email"] for u in config["users"]] == [u["email"] for u in stack.users]

    bundle = requests.get(f"{stack.console_url}/app.js", timeout=10)
    assert bundle.status_code == 200
    assert "javascript" in bundle.headers["Content-Type"]
    # Bundled: the browser could not resolve a bare "firebase/..." import itself.
    assert 'from "firebase/' not in bundle.text


def test_book_rearrange_cancel_in_the_browser(stack: Stack, tmp_path: Path) -> None:
    browser = chromium()
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    screenshot = tmp_path / "console.png"
    done = subprocess.run(  # noqa: S603 (our own fixed command)
        [node, "--test", "tests/browser/"],
        cwd=ROOT,
        env={
            **os.environ,
            "VISN_STACK": json.dumps(stack.describe()),
            "VISN_CHROMIUM": browser,
            "VISN_SCREENSHOT": str(screenshot),
        },
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        check=False,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0 and LAUNCH_FAILED in output:
        why = output.split(LAUNCH_FAILED, 1)[1].splitlines()[0].strip(" :")
        _unavailable("chromium", RuntimeError(why[:500]))
    assert done.returncode == 0, f"node --test tests/browser/ failed:\n{output}"
    assert "# fail 0" in output
    assert screenshot.read_bytes().startswith(PNG_MAGIC), "a PNG screenshot of the page"
    print(f"screenshot: {screenshot}")
