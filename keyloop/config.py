"""Connection settings of the Keyloop client (everything but credentials)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import KeyloopConfigurationError

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class KeyloopSettings:
    """How to reach Keyloop and how patient to be.

    Retries apply to the token, availability and cancel calls; create is retried only when
    the request cannot have reached Keyloop (connection refused, or 429).
    """

    base_url: str
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    max_retries: int = 2
    backoff_factor: float = 0.2
    backoff_max: float = 2.0
    backoff_jitter: float = 0.1
    retry_after_max: int = 5
    token_refresh_margin: float = 60.0
    accept_language: str = "en-GB"
    user_agent: str = "visn-keyloop-booking/1.0 (+python-requests)"
    pool_maxsize: int = 128
    # At most this many requests in flight from one client (one process), whatever the number
    # of threads: instances x this is the most Keyloop ever sees from us at once. None: no cap.
    max_concurrent_calls: int | None = None

    def __post_init__(self) -> None:
        url = (self.base_url or "").strip().rstrip("/")
        parts = urlsplit(url)
        if not parts.netloc or parts.scheme not in {"https", "http"}:
            raise KeyloopConfigurationError("KEYLOOP_BASE_URL is missing or not an http(s) URL")
        # Plain http only for a sandbox on this machine: tokens must not cross a network in clear.
        if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
            raise KeyloopConfigurationError("KEYLOOP_BASE_URL must use https")
        if parts.query or parts.fragment:
            raise KeyloopConfigurationError("KEYLOOP_BASE_URL must not carry a query or fragment")
        object.__setattr__(self, "base_url", url)
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise KeyloopConfigurationError("Keyloop timeouts must be positive")
        if self.max_concurrent_calls is not None and self.max_concurrent_calls < 1:
            raise KeyloopConfigurationError("Keyloop max_concurrent_calls must be at least 1")
        if self.max_retries < 0:
            raise KeyloopConfigurationError("Keyloop max_retries must not be negative")
