"""Issued access tokens. Not thread-safe by itself: `SandboxState` calls it under its lock."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from enum import Enum

_TOKEN_ALPHABET = string.ascii_letters + string.digits
_TOKEN_LENGTH = 32  # Apigee's tokens are 28 alphanumerics; longer is harmless


class TokenStatus(Enum):
    """What a presented bearer token turned out to be."""

    VALID = "valid"
    UNKNOWN = "unknown"
    EXPIRED = "expired"


@dataclass
class IssuedToken:
    """One token: `expires_at` is on the `time.monotonic()` clock."""

    value: str
    client_id: str
    expires_at: float
    revoked: bool = False


class TokenRegistry:
    """Tokens by value; expired ones are kept so they answer "expired", not "unknown"."""

    def __init__(self) -> None:
        self._tokens: dict[str, IssuedToken] = {}

    def issue(self, client_id: str, ttl_seconds: float, now: float) -> IssuedToken:
        """A new random token for `client_id`, valid for `ttl_seconds` from `now`."""
        value = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(_TOKEN_LENGTH))
        token = IssuedToken(value, client_id, now + ttl_seconds)
        self._tokens[value] = token
        return token

    def check(self, value: str, now: float) -> tuple[TokenStatus, IssuedToken | None]:
        """Classify a presented token value."""
        token = self._tokens.get(value)
        if token is None:
            return TokenStatus.UNKNOWN, None
        if token.revoked or now >= token.expires_at:
            return TokenStatus.EXPIRED, token
        return TokenStatus.VALID, token

    def expire_all(self) -> int:
        """Expire every issued token (to test 401 → refresh); returns how many were live."""
        live = [token for token in self._tokens.values() if not token.revoked]
        for token in live:
            token.revoked = True
        return len(live)

    def values(self) -> list[str]:
        """Every token ever issued since the last reset (for tests that hunt for leaks)."""
        return list(self._tokens)
