"""Bounded Firestore calls: a dead database fails a callable in seconds, not at its timeout."""

from __future__ import annotations

from typing import Any

from google.api_core.retry import Retry

from visn.infra import settings


def call_options() -> dict[str, Any]:
    """`timeout=` bounds one attempt; the default retry would keep trying for ~60 s."""
    budget = settings.FIRESTORE_TIMEOUT_MS.value / 1000
    return {
        "timeout": budget,
        "retry": Retry(initial=0.05, maximum=0.5, multiplier=2.0, timeout=budget),
    }
