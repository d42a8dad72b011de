"""A pytest plugin: every structured log line our code writes during the run, kept.

firebase_functions' logger builds each entry and hands it to `logger.write`, which prints one
JSON line (Cloud Run turns it into a LogEntry: `severity`, and the rest as `jsonPayload`).
The plugin wraps that function for the whole session, so the lines still reach stdout and
stderr (tests read them there) and are also recorded, in memory for the alerts test
(tests/ops/test_alerts.py, run last) and in `dev/test-log-lines.jsonl` for people.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINES_FILE = ROOT / "dev" / "test-log-lines.jsonl"
# The test that reads what the session captured runs after every other test.
LAST = "tests/ops/test_alerts.py"

_lines: list[dict[str, Any]] = []
_lock = threading.Lock()
_original: Callable[[Any], None] | None = None


def captured() -> list[dict[str, Any]]:
    """The structured log lines written so far in this session, oldest first."""
    with _lock:
        return list(_lines)


def _recording(write: Callable[[Any], None]) -> Callable[[Any], None]:
    def record(entry: Any) -> None:
        write(entry)
        line = json.loads(json.dumps(entry, default=str))  # as printed, then read back
        with _lock:
            _lines.append(line)
            with LINES_FILE.open("a") as out:
                out.write(json.dumps(line) + "\n")

    return record


def pytest_configure(config: pytest.Config) -> None:
    global _original  # noqa: PLW0603 (one wrapper for the session)
    from firebase_functions import logger

    LINES_FILE.parent.mkdir(parents=True, exist_ok=True)
    LINES_FILE.write_text("")
    _original = logger.write
    logger.write = _recording(logger.write)  # type: ignore[assignment]


def pytest_unconfigure(config: pytest.Config) -> None:
    if _original is not None:
        from firebase_functions import logger

        logger.write = _original  # type: ignore[assignment]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [item for item in items if item.nodeid.startswith(LAST)]
    if last:
        items[:] = [item for item in items if item not in last] + last
