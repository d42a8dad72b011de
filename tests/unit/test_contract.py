"""The checked-in JSON Schemas match the request models the callables validate with."""

from __future__ import annotations

from devtools.contract import SCHEMA_DIR, rendered


def test_schemas_are_current() -> None:
    stale = [
        name
        for name, text in rendered().items()
        if not (SCHEMA_DIR / name).exists() or (SCHEMA_DIR / name).read_text() != text
    ]
    assert stale == [], f"run `python -m devtools.contract` to refresh: {stale}"
