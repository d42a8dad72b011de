"""Process-wide clients, built on first use (importing main.py builds nothing).

Deployed functions serve many requests at once in one process: each client is created once
under a lock and shared.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from keyloop import (
    CredentialsProvider,
    KeyloopClient,
    KeyloopSettings,
    SecretManagerCredentials,
    StaticCredentials,
)
from visn.contract.telemetry import record_keyloop_call
from visn.infra import settings

if TYPE_CHECKING:
    from google.cloud.firestore import Client as FirestoreClient

_lock = threading.Lock()
_firestore: FirestoreClient | None = None
_keyloop: KeyloopClient | None = None
_admin_ready = False


def project_id() -> str | None:
    return os.environ.get("GCLOUD_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT")


def firestore_client() -> FirestoreClient:
    global _firestore  # noqa: PLW0603 (a lazily built process singleton)
    if _firestore is None:
        with _lock:
            if _firestore is None:
                # Imported here: the Firestore client is the heaviest import we have.
                from google.cloud import firestore

                # Under FIRESTORE_EMULATOR_HOST this uses anonymous credentials (no ADC needed).
                _firestore = firestore.Client(project=project_id())
    return _firestore


def keyloop_client() -> KeyloopClient:
    global _keyloop  # noqa: PLW0603
    if _keyloop is None:
        with _lock:
            if _keyloop is None:
                _keyloop = KeyloopClient(
                    _keyloop_settings(), _credentials(), observer=record_keyloop_call
                )
    return _keyloop


def ensure_admin_app() -> None:
    """firebase_admin's default app, which the callable wrapper needs to verify ID tokens."""
    global _admin_ready  # noqa: PLW0603
    if _admin_ready:
        return
    with _lock:
        import firebase_admin

        try:
            firebase_admin.get_app()
        except ValueError:
            options: dict[str, Any] = {"projectId": project_id()} if project_id() else {}
            firebase_admin.initialize_app(options=options)
        _admin_ready = True


def reset() -> None:
    """Forget every client (tests change the environment between cases)."""
    global _firestore, _keyloop  # noqa: PLW0603
    with _lock:
        if _keyloop is not None:
            _keyloop.close()
        _firestore = None
        _keyloop = None


def _keyloop_settings() -> KeyloopSettings:
    return KeyloopSettings(
        settings.KEYLOOP_BASE_URL.value,
        connect_timeout=settings.KEYLOOP_CONNECT_TIMEOUT_MS.value / 1000,
        read_timeout=settings.KEYLOOP_READ_TIMEOUT_MS.value / 1000,
        max_concurrent_calls=settings.KEYLOOP_MAX_CONCURRENT_CALLS.value,
    )


def _credentials() -> CredentialsProvider:
    secret_name = settings.KEYLOOP_CREDENTIALS_SECRET.value.strip()
    if secret_name:
        return SecretManagerCredentials(secret_name, project=project_id())
    return StaticCredentials(settings.KEYLOOP_CLIENT_ID.value, settings.KEYLOOP_CLIENT_SECRET.value)
