"""What a check says: passed, or failed with a one-line reason and a one-line fix; and what
every check is given (the project, the runner, the manifest)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .manifest import Manifest
from .runner import Answer, Call, Runner


@dataclass(frozen=True)
class Result:
    check: str
    ok: bool
    reason: str  # what was seen, one line
    fix: str = ""  # what a person does about it, one line (failures only)

    def lines(self) -> list[str]:
        head = f"{'ok  ' if self.ok else 'FAIL'}  {self.check:<10} {self.reason}"
        return [head] if self.ok or not self.fix else [head, f"{'':16} fix: {self.fix}"]


def passed(check: str, reason: str) -> Result:
    return Result(check, True, reason)


def failed(check: str, reason: str, fix: str) -> Result:
    return Result(check, False, reason, fix)


@dataclass
class Context:
    project: str
    runner: Runner
    manifest: Manifest
    _answers: dict[tuple[str, ...], Answer] = field(default_factory=dict)

    def ask(self, *argv: str) -> Answer:
        """The answer to a read-only call, asked once per run."""
        if argv not in self._answers:
            self._answers[argv] = self.runner.run(Call(argv))
        return self._answers[argv]

    def env(self) -> dict[str, str]:
        """The variables firebase-tools gives the functions for this project: `.env`, then
        `.env.<projectId>` over it (the functions source's files, as the CLI reads them)."""
        values: dict[str, str] = {}
        for name in (".env", f".env.{self.project}"):
            values.update(parse_env(self.runner.source_file(name) or ""))
        return values


def parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines (comments, blank lines and `export ` skipped; one pair of quotes
    around a value removed), as the dotenv files firebase-tools reads are written."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values
