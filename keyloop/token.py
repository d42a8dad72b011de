"""The OAuth access token: fetched once, shared by every thread, refreshed ahead of expiry.

Single-flight: while one thread fetches, the others wait for its result instead of sending
their own request. Inside the refresh margin, one thread refreshes and the rest keep using
the still-valid token, so a busy process never stalls at the moment a token ages out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_HARD_SKEW_SECONDS = 5.0  # treat a token as dead slightly early: clocks and transit


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    lifetime: float
    obtained_at: float  # monotonic clock, taken when the request was sent

    def fresh_until(self, margin: float) -> float:
        return self.obtained_at + self.lifetime - min(margin, self.lifetime / 4)

    def usable_until(self) -> float:
        return self.obtained_at + self.lifetime - min(_HARD_SKEW_SECONDS, self.lifetime / 10)


class TokenCache:
    """Holds one token; `get()` returns a usable one, fetching through `fetch` when needed."""

    def __init__(
        self,
        fetch: Callable[[], AccessToken],
        *,
        refresh_margin: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._margin = refresh_margin
        self._clock = clock
        self._token: AccessToken | None = None
        self._fetch_lock = threading.Lock()

    def get(self) -> str:
        token = self._token
        now = self._clock()
        if token is not None and now < token.fresh_until(self._margin):
            return token.value
        if token is not None and now < token.usable_until():
            # Ageing but valid: refresh if nobody else is, otherwise keep using it.
            if self._fetch_lock.acquire(blocking=False):
                try:
                    return self._refresh_locked(stale=token, fallback=token)
                finally:
                    self._fetch_lock.release()
            return token.value
        with self._fetch_lock:
            return self._refresh_locked(stale=token, fallback=None)

    def invalidate(self, value: str) -> None:
        """Drop the token if it is still `value` (a 401 proved it dead); keep a newer one."""
        with self._fetch_lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def _refresh_locked(self, *, stale: AccessToken | None, fallback: AccessToken | None) -> str:
        current = self._token
        if current is not None and current is not stale:
            return current.value  # another thread fetched while we waited for the lock
        try:
            self._token = self._fetch()
        except Exception:
            if fallback is not None:
                return fallback.value  # refresh ahead failed; the old token is still valid
            raise
        return self._token.value
