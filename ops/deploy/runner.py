"""The one way the deploy command talks to the outside: every CLI call (firebase, gcloud, pip)
and the one REST read (the project's Firestore rules) is a `Call`, answered by a `Runner`.

`RealRunner` runs them; `StandinRunner` answers from a JSON file of answers in the real CLIs'
`--format=json` / `--json` shapes, so the checks run offline in the tests and for `demo-`
projects, which have no Google behind them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from devtools.firestore_rules import assembled_standin

ROOT = Path(__file__).resolve().parents[2]
# The pinned firebase-tools (make setup), as docs/deploy.md runs it.
FIREBASE = ROOT / "node_modules" / ".bin" / "firebase"
# In a stand-in's answer: the rules `make dev` serves (ViSN's stand-in with our block merged).
STANDIN_RULES = "{standin-rules}"
# A REST read, authorised with the application default credentials (as gcloud would be).
GET = "GET"


@dataclass(frozen=True)
class Call:
    """A command line (argv[0] a tool's name: firebase, gcloud, pip) or `GET <url>`."""

    argv: tuple[str, ...]

    def key(self, project: str) -> str:
        """How a stand-in looks the call up: the command line with the project as {project}."""
        return " ".join(a.replace(project, "{project}") for a in self.argv)


@dataclass(frozen=True)
class Answer:
    exit: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.exit == 0

    def json(self) -> Any:
        return json.loads(self.stdout)

    def error_line(self) -> str:
        """The CLI's own one-line reason: firebase --json's `error`, else the first ERROR
        line of stderr, else its last line."""
        try:
            said = json.loads(self.stdout)
        except ValueError:
            said = None
        if isinstance(said, dict) and said.get("status") == "error":
            return str(said.get("error"))[:300]
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")]
        return (errors or lines[-1:] or [f"exit status {self.exit}"])[0][:300]


class Runner(Protocol):
    def run(self, call: Call) -> Answer:
        """The call's answer; a failing command is an Answer with exit != 0, not an error."""

    def source_file(self, name: str) -> str | None:
        """The text of file `name` of the functions source (`.env.<projectId>`, the lock), None
        when absent."""

    def deploy(self, call: Call) -> int:
        """Run the deploy itself with its output shown as it comes; its exit status."""


class RealRunner:
    def __init__(self, root: Path = ROOT) -> None:
        self.root = root

    def _argv(self, call: Call) -> list[str]:
        tool, *rest = call.argv
        if tool == "firebase":
            return [str(FIREBASE), *rest]
        if tool == "pip":
            return [sys.executable, "-m", "pip", *rest]
        found = shutil.which(tool)
        if found is None:
            raise FileNotFoundError(f"{tool} is not installed (docs/deploy.md, Prerequisites)")
        return [found, *rest]

    def run(self, call: Call) -> Answer:
        if call.argv[0] == GET:
            return _get(call.argv[1])
        try:
            argv = self._argv(call)
        except FileNotFoundError as exc:
            return Answer(127, stderr=f"ERROR: {exc}")
        # pip reads no machine-local config: the lock is checked against PyPI, as deployed.
        env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
        done = subprocess.run(  # noqa: S603 (our own arguments)
            argv, cwd=self.root, capture_output=True, text=True, check=False, env=env
        )
        return Answer(done.returncode, done.stdout, done.stderr)

    def source_file(self, name: str) -> str | None:
        path = self.root / name
        return path.read_text() if path.is_file() else None

    def deploy(self, call: Call) -> int:
        return subprocess.run(self._argv(call), cwd=self.root, check=False).returncode  # noqa: S603


def _get(url: str) -> Answer:
    import google.auth
    import google.auth.exceptions
    from google.auth.transport.requests import AuthorizedSession

    try:
        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        response = AuthorizedSession(credentials).get(url, timeout=30)  # type: ignore[no-untyped-call]
    except google.auth.exceptions.DefaultCredentialsError as exc:
        return Answer(1, stderr=f"ERROR: no application default credentials: {exc}")
    if response.status_code != 200:
        return Answer(1, stderr=f"ERROR: HTTP {response.status_code}: {response.text[:200]}")
    return Answer(0, stdout=response.text)


class MissingAnswerError(Exception):
    """A call the stand-in does not answer: the stand-in (or the check) is wrong."""


@dataclass
class StandinRunner:
    """Answers from a stand-in project: `{"answers": {call key: {"exit", "stdout" (text or
    JSON), "stderr"}}, "files": {name: text}}`, where `{project}` stands for the project id
    and `{standin-rules}` for the rules `make dev` serves. A call it has no answer for is a
    mistake in the stand-in and raises; files it lacks come from the repository (`.env`, the
    lock). Calls of the tools in `live` (pip, which needs no Google) go to the real runner.
    `deploy` records the call instead of running it."""

    project: str
    answers: Mapping[str, Mapping[str, Any]]
    files: Mapping[str, str] = field(default_factory=dict)
    live: frozenset[str] = frozenset()
    path: Path | None = None
    root: Path = ROOT
    calls: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path, project: str, live: frozenset[str] = frozenset()) -> StandinRunner:
        data = json.loads(path.read_text())
        return cls(project, data["answers"], data.get("files", {}), live, path)

    def run(self, call: Call) -> Answer:
        key = call.key(self.project)
        self.calls.append(key)
        if call.argv[0] in self.live:
            return RealRunner(self.root).run(call)
        if key not in self.answers:
            raise MissingAnswerError(f"the stand-in has no answer for: {key}")
        answer = self.answers[key]
        stdout = answer.get("stdout", "")
        if not isinstance(stdout, str):
            stdout = json.dumps(stdout)
        stdout = stdout.replace("{project}", self.project)
        if STANDIN_RULES in stdout:
            stdout = stdout.replace(STANDIN_RULES, json.dumps(assembled_standin())[1:-1])
        return Answer(int(answer.get("exit", 0)), stdout, str(answer.get("stderr", "")))

    def source_file(self, name: str) -> str | None:
        key = name.replace(self.project, "{project}")
        if key in self.files:
            return self.files[key].replace("{project}", self.project)
        path = self.root / name
        return path.read_text() if path.is_file() else None

    def deploy(self, call: Call) -> int:
        self.calls.append(call.key(self.project))
        return 0
