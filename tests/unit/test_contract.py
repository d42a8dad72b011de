"""The checked-in contract (JSON Schemas and TypeScript types) matches the pydantic models."""

from __future__ import annotations

from devtools.contract import ROOT, rendered


def test_contract_files_are_current() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in rendered().items()
        if not path.exists() or path.read_text() != text
    ]
    assert stale == [], f"run `python -m devtools.contract` to refresh: {stale}"
