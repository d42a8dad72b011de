"""Deploy-time configuration: firebase_functions params, read at call time (never at import)."""

from __future__ import annotations

from firebase_functions.params import IntParam, SecretParam, StringParam

REGION = "europe-west2"  # ViSN's customers are in the UK and Ireland

KEYLOOP_BASE_URL = StringParam(
    "KEYLOOP_BASE_URL",
    description="Keyloop API host, e.g. https://api.eu.keyloop.io (EU production)",
)
KEYLOOP_CLIENT_ID = SecretParam("KEYLOOP_CLIENT_ID")
KEYLOOP_CLIENT_SECRET = SecretParam("KEYLOOP_CLIENT_SECRET")
KEYLOOP_CREDENTIALS_SECRET = StringParam(
    "KEYLOOP_CREDENTIALS_SECRET",
    default="",
    description="Optional Secret Manager secret with {clientId, clientSecret}; read at run "
    "time so credentials rotate without a redeploy. Empty: use the two SecretParams.",
)
KEYLOOP_CONNECT_TIMEOUT_MS = IntParam("KEYLOOP_CONNECT_TIMEOUT_MS", default=3050)
KEYLOOP_READ_TIMEOUT_MS = IntParam("KEYLOOP_READ_TIMEOUT_MS", default=10000)
FIRESTORE_TIMEOUT_MS = IntParam("FIRESTORE_TIMEOUT_MS", default=5000)
SUPPLIERS_COLLECTION = StringParam(
    "SUPPLIERS_COLLECTION",
    default="suppliers",
    description="Where ViSN keeps its supplier (service unit) records, a collection path",
)

KEYLOOP_EVENTS_SECRET = SecretParam("KEYLOOP_EVENTS_SECRET")  # x-api-key of Keyloop's events

SECRETS = [KEYLOOP_CLIENT_ID, KEYLOOP_CLIENT_SECRET]
EVENTS_SECRETS = [*SECRETS, KEYLOOP_EVENTS_SECRET]
