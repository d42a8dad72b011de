"""HTTP transport: one pooled `requests.Session`, with urllib3's `Retry` chosen per call.

requests fixes `max_retries` per adapter, but create must not be retried where the others
may be. Rather than a second pool, the adapter reads its retry policy from a context
variable that each call sets: one connection pool, a policy per call, thread-safe.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .config import KeyloopSettings

_RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_policy: contextvars.ContextVar[Retry | None] = contextvars.ContextVar(
    "keyloop_retry_policy", default=None
)


class _CreateRetry(Retry):
    # urllib3 also retries 503 when it carries Retry-After; a create may only be repeated on 429.
    RETRY_AFTER_STATUS_CODES = frozenset({429})


class _PolicyAdapter(HTTPAdapter):
    """An HTTPAdapter whose `max_retries` is the policy of the call in progress."""

    @property
    def max_retries(self) -> Retry:
        policy = _policy.get()
        return policy if policy is not None else self._default_retries

    @max_retries.setter
    def max_retries(self, value: Retry) -> None:
        self._default_retries = value


def idempotent_policy(settings: KeyloopSettings) -> Retry:
    """Token, availability, cancel: repeat on connection errors, timeouts, 429 and 502-504."""
    n = settings.max_retries
    return Retry(
        total=n,
        connect=n,
        read=min(n, 1),  # a read timeout already cost a full read_timeout: retry it once
        status=n,
        other=0,
        redirect=0,
        allowed_methods=None,  # token and availability are POSTs that change nothing
        status_forcelist=_RETRYABLE_STATUSES,
        backoff_factor=settings.backoff_factor,
        backoff_max=settings.backoff_max,
        backoff_jitter=settings.backoff_jitter,
        retry_after_max=settings.retry_after_max,
        raise_on_status=False,
        respect_retry_after_header=True,
    )


def create_policy(settings: KeyloopSettings) -> Retry:
    """Create: repeat only when the request cannot have been acted on (refused, 429)."""
    n = settings.max_retries
    return _CreateRetry(
        total=n,
        connect=n,  # NewConnectionError and connect timeouts: nothing was sent
        read=0,  # anything after sending is an unknown outcome, never repeated
        status=n,
        other=0,
        redirect=0,
        allowed_methods=None,
        status_forcelist=frozenset({429}),
        backoff_factor=settings.backoff_factor,
        backoff_max=settings.backoff_max,
        backoff_jitter=settings.backoff_jitter,
        retry_after_max=settings.retry_after_max,
        raise_on_status=False,
        respect_retry_after_header=True,
    )


def new_session(settings: KeyloopSettings) -> requests.Session:
    session = requests.Session()
    adapter = _PolicyAdapter(
        pool_connections=4, pool_maxsize=settings.pool_maxsize, max_retries=Retry(0, read=False)
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update(
        {
            "Accept": "application/json",
            "Accept-Language": settings.accept_language,
            "User-Agent": settings.user_agent,
        }
    )
    session.trust_env = False  # no proxies or .netrc credentials picked up from the host
    return session


@contextmanager
def retry_policy(policy: Retry) -> Iterator[None]:
    token = _policy.set(policy)
    try:
        yield
    finally:
        _policy.reset(token)
