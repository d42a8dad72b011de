"""Where the OAuth client id and secret come from.

Two sources: fixed values (firebase_functions SecretParams, resolved by the caller), or a
Secret Manager secret read at run time, so credentials can rotate without a redeploy: the
client asks for a re-read when the token endpoint rejects the client.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .errors import KeyloopConfigurationError


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.client_id or not self.client_id.strip():
            raise KeyloopConfigurationError("Keyloop client id is missing")
        if not self.client_secret or not self.client_secret.strip():
            raise KeyloopConfigurationError("Keyloop client secret is missing")


class CredentialsProvider(Protocol):
    def get(self) -> ClientCredentials:
        """The current credentials (may read a secret store on first use)."""
        ...

    def refresh(self) -> bool:
        """Forget cached credentials; True when a re-read may give different ones."""
        ...


class StaticCredentials:
    """Credentials known up front (e.g. SecretParams); nothing to re-read."""

    def __init__(self, client_id: str | None, client_secret: str | None) -> None:
        self._creds = ClientCredentials(client_id or "", client_secret or "")

    def get(self) -> ClientCredentials:
        return self._creds

    def refresh(self) -> bool:
        return False


SecretAccessor = Callable[[str], bytes]


def _secret_manager_accessor(resource: str) -> bytes:
    # Imported here: the Secret Manager client is heavy and only some deployments use it.
    from google.cloud import secretmanager

    client = secretmanager.SecretManagerServiceClient()
    response = client.access_secret_version(request={"name": resource}, timeout=10.0)
    return bytes(response.payload.data)


def secret_resource_name(name: str, project: str | None = None) -> str:
    """`projects/P/secrets/N/versions/V` from a full name, `projects/P/secrets/N`, or `N`."""
    name = name.strip()
    if name.startswith("projects/"):
        return name if "/versions/" in name else f"{name}/versions/latest"
    project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT")
    if not project:
        raise KeyloopConfigurationError(
            "KEYLOOP_CREDENTIALS_SECRET is a short name but no project id is known"
        )
    return f"projects/{project}/secrets/{name}/versions/latest"


class SecretManagerCredentials:
    """Credentials from a Secret Manager secret holding JSON `{"clientId", "clientSecret"}`.

    Cached for `ttl` seconds; `refresh()` forces the next `get()` to read the secret again.
    """

    def __init__(
        self,
        secret_name: str,
        *,
        project: str | None = None,
        ttl: float = 3600.0,
        accessor: SecretAccessor = _secret_manager_accessor,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resource = secret_resource_name(secret_name, project)
        self._ttl = ttl
        self._accessor = accessor
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: ClientCredentials | None = None
        self._read_at = 0.0

    def get(self) -> ClientCredentials:
        with self._lock:
            if self._cached is None or self._clock() - self._read_at >= self._ttl:
                self._cached = self._read()
                self._read_at = self._clock()
            return self._cached

    def refresh(self) -> bool:
        with self._lock:
            self._cached = None
        return True

    def _read(self) -> ClientCredentials:
        try:
            payload = json.loads(self._accessor(self._resource))
        except (ValueError, UnicodeDecodeError):
            raise KeyloopConfigurationError("Keyloop credentials secret is not JSON") from None
        if not isinstance(payload, dict):
            raise KeyloopConfigurationError("Keyloop credentials secret is not a JSON object")
        client_id = payload.get("clientId", payload.get("client_id"))
        secret = payload.get("clientSecret", payload.get("client_secret"))
        if not isinstance(client_id, str) or not isinstance(secret, str):
            raise KeyloopConfigurationError(
                "Keyloop credentials secret needs string clientId and clientSecret"
            )
        return ClientCredentials(client_id, secret)
