"""Parsing and checking JSON request bodies, with errors that become 400 answers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


class BadRequestError(Exception):
    """A client error: becomes `400 {"code": code, "message": message}`."""

    def __init__(self, message: str, code: str = "VALIDATION") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_object(body: bytes, *, empty_ok: bool = False) -> dict[str, Any]:
    """Decode a JSON object body; an empty body is `{}` only when `empty_ok`."""
    if not body.strip():
        if empty_ok:
            return {}
        raise BadRequestError("A JSON body is required", "INVALID_JSON")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        # ValueError covers JSONDecodeError and absurd numbers; never echo the body back.
        raise BadRequestError("The body is not valid JSON", "INVALID_JSON") from None
    if not isinstance(data, dict):
        raise BadRequestError("The body must be a JSON object")
    return data


def reject_unknown_keys(data: dict[str, Any], allowed: Iterable[str]) -> None:
    """Control bodies are strict so a typo in a test fails loudly instead of being ignored."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise BadRequestError(f"Unknown field(s): {', '.join(unknown)}")


def child_object(parent: dict[str, Any], key: str, label: str) -> dict[str, Any]:
    """`parent[key]` as an object, or a 400 naming `label`."""
    value = parent.get(key)
    if not isinstance(value, dict):
        raise BadRequestError(f"{label} is required")
    return value


def non_empty_string(parent: dict[str, Any], key: str, label: str) -> str:
    """`parent[key]` as a non-blank string, or a 400 naming `label` (never its value)."""
    value = parent.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(f"{label} is required")
    return value


def number(value: Any, label: str, *, minimum: float = 0) -> float:
    """A JSON number (not a bool) no smaller than `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise BadRequestError(f"{label} must be a number >= {minimum:g}")
    return float(value)


def boolean(value: Any, label: str) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise BadRequestError(f"{label} must be true or false")
    return value


def string_list(value: Any, label: str) -> list[str]:
    """A JSON list of strings."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequestError(f"{label} must be a list of strings")
    return list(value)


def string_map(value: Any, label: str) -> dict[str, str]:
    """A JSON object whose values are all strings."""
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise BadRequestError(f"{label} must be an object of strings")
    return dict(value)
