"""The OAuth access token: fetched once, shared by every thread, refreshed ahead of expiry.

Single-flight: while one thread fetches, the others wait for that fetch and share its
outcome, the token or the error, instead of sending requests of their own. Inside the
refresh margin one thread refreshes and the rest keep using the still-valid token, so a busy
process never stalls at the moment a token ages out.
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


class _Flight:
    """One token fetch in progress; waiters read its outcome once `done` is set."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.token: AccessToken | None = None
        self.error: BaseException | None = None


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
        self._lock = threading.Lock()  # guards _token and _flight, never held while fetching
        self._token: AccessToken | None = None
        self._flight: _Flight | None = None

    def get(self) -> str:
        with self._lock:
            token = self._token
            now = self._clock()
            if token is not None and now < token.fresh_until(self._margin):
                return token.value
            usable = token if token is not None and now < token.usable_until() else None
            flight = self._flight
            if flight is not None and usable is not None:
                return usable.value  # someone is refreshing; the current token still works
            leader = flight is None
            if flight is None:
                flight = self._flight = _Flight()
        if leader:
            self._run(flight)
        else:
            flight.done.wait()
        if flight.token is not None:
            return flight.token.value
        if usable is not None:
            return usable.value  # refresh ahead failed; the old token is still valid
        raise flight.error or RuntimeError("token fetch ended without a token")

    def invalidate(self, value: str) -> None:
        """Drop the token if it is still `value` (a 401 proved it dead); keep a newer one."""
        with self._lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def _run(self, flight: _Flight) -> None:
        try:
            flight.token = self._fetch()
        except BaseException as exc:
            flight.error = exc
        finally:
            with self._lock:
                if flight.token is not None:
                    self._token = flight.token
                self._flight = None
            flight.done.set()
