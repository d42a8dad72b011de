"""One error hierarchy for every Keyloop failure.

Every error carries the HTTP status (if any), the Keyloop/Apigee fault code (if any) and the
correlation id we sent, so a log line can be matched with Keyloop's side. Messages are built
from fixed text and those three values only: never a token, a secret or a response body (a
DMS may echo personal data back).
"""

from __future__ import annotations


class KeyloopError(Exception):
    """Base class of every error this package raises."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        fault_code: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.fault_code = fault_code
        self.correlation_id = correlation_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.fault_code:
            parts.append(f"fault={self.fault_code}")
        if self.correlation_id:
            parts.append(f"correlation_id={self.correlation_id}")
        return " ".join(parts)


class KeyloopConfigurationError(KeyloopError):
    """Base URL or credentials missing or malformed: nothing was sent."""


class KeyloopCredentialsUnavailableError(KeyloopConfigurationError):
    """The credentials store (Secret Manager) could not be read: nothing was sent."""


class KeyloopInvalidRequestError(KeyloopError, ValueError):
    """Our own arguments are unusable (e.g. an id that would change the URL path): nothing sent."""


class KeyloopAuthenticationError(KeyloopError):
    """The token endpoint rejected our client, or an API call got a second 401."""


class KeyloopNotEntitledError(KeyloopError):
    """Our app is not entitled to the API product (Apigee 'no apiproduct match'); not retryable."""


class KeyloopRejectedError(KeyloopError):
    """Keyloop refused the request as a business failure (a 4xx): the caller's data or state."""


class KeyloopNotFoundError(KeyloopRejectedError):
    """404: the store or appointment does not exist."""


class KeyloopConflictError(KeyloopRejectedError):
    """409: the slot is taken (or another state conflict)."""


class KeyloopRateLimitedError(KeyloopError):
    """Spike arrest or quota violation, still failing after our retries."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        fault_code: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(
            message, status=status, fault_code=fault_code, correlation_id=correlation_id
        )
        self.retry_after = retry_after


class KeyloopUnavailableError(KeyloopError):
    """Keyloop could not be reached or answered 5xx; the request had no effect."""


class KeyloopGatewayNotFoundError(KeyloopUnavailableError):
    """Apigee itself answered 404 (no proxy or target for the path, e.g. wrong store ids).

    The DMS never saw the request: nothing changed, and nothing is known of the resource.
    """


class KeyloopTimeoutError(KeyloopError):
    """No answer in time on a call that is safe to repeat (nothing was changed by us)."""


class KeyloopIndeterminateError(KeyloopError):
    """A create may or may not have happened: the request may have reached Keyloop, no answer.

    Keyloop offers no look-up by our external reference, so a person has to check the diary.
    """


class KeyloopBadResponseError(KeyloopError):
    """Keyloop answered 2xx with a body we cannot understand."""
