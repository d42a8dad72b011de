"""How the functions run: options shared by every callable, and firebase_admin on first call."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from firebase_functions import options
from firebase_functions.params import IntParam

from . import settings
from .clients import ensure_admin_app

F = TypeVar("F", bound=Callable[..., Any])

BOOKING_MIN_INSTANCES = IntParam(
    "BOOKING_MIN_INSTANCES",
    default=0,
    description="Warm instances kept for getAvailability and createBooking (1 in production)",
)

# Why these values: docs/deploy.md.
CALLABLE_OPTIONS: dict[str, Any] = {
    "region": settings.REGION,
    "secrets": settings.SECRETS,
    "memory": options.MemoryOption.MB_512,
    "cpu": 1,
    "concurrency": 80,
    "timeout_sec": 60,
    "max_instances": 10,  # protects Keyloop, which publishes no rate limits
}
BOOKING_PATH_OPTIONS: dict[str, Any] = {
    **CALLABLE_OPTIONS,
    "min_instances": BOOKING_MIN_INSTANCES,
}


def with_admin_app(function: F) -> F:
    """The callable wrapper verifies ID tokens before our code runs, so firebase_admin must
    be initialised by then; done here on the first request rather than at import."""

    @functools.wraps(function)
    def entry(*args: Any, **kwargs: Any) -> Any:
        ensure_admin_app()
        return function(*args, **kwargs)

    return entry  # type: ignore[return-value]
