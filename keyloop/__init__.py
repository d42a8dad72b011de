"""Keyloop DMS client: OAuth token, appointment availability, create and cancel.

Knows nothing of Firebase or ViSN. See shared/keyloop-api.md for what is known of the API.
"""

from .availability import parse_availability
from .client import CallObserver, CallRecord, KeyloopClient
from .config import KeyloopSettings
from .credentials import (
    ClientCredentials,
    CredentialsProvider,
    SecretManagerCredentials,
    StaticCredentials,
)
from .errors import (
    KeyloopAuthenticationError,
    KeyloopBadResponseError,
    KeyloopConfigurationError,
    KeyloopConflictError,
    KeyloopCredentialsUnavailableError,
    KeyloopError,
    KeyloopGatewayNotFoundError,
    KeyloopIndeterminateError,
    KeyloopInvalidRequestError,
    KeyloopNotEntitledError,
    KeyloopNotFoundError,
    KeyloopRateLimitedError,
    KeyloopRejectedError,
    KeyloopTimeoutError,
    KeyloopUnavailableError,
)
from .models import Address, Appointment, NewAppointment, Slot, Store

__all__ = [
    "Address",
    "Appointment",
    "CallObserver",
    "CallRecord",
    "ClientCredentials",
    "CredentialsProvider",
    "KeyloopAuthenticationError",
    "KeyloopBadResponseError",
    "KeyloopClient",
    "KeyloopConfigurationError",
    "KeyloopConflictError",
    "KeyloopCredentialsUnavailableError",
    "KeyloopError",
    "KeyloopGatewayNotFoundError",
    "KeyloopIndeterminateError",
    "KeyloopInvalidRequestError",
    "KeyloopNotEntitledError",
    "KeyloopNotFoundError",
    "KeyloopRateLimitedError",
    "KeyloopRejectedError",
    "KeyloopSettings",
    "KeyloopTimeoutError",
    "KeyloopUnavailableError",
    "NewAppointment",
    "SecretManagerCredentials",
    "Slot",
    "StaticCredentials",
    "Store",
    "parse_availability",
]
