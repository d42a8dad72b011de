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

# Quotas (docs/deploy.md says why these defaults). Read on each call, like the others.
QUOTA_BOOKINGS_PER_USER_PER_HOUR = IntParam(
    "QUOTA_BOOKINGS_PER_USER_PER_HOUR",
    default=60,
    description="createBooking + rearrangeBooking calls one user may make in a clock hour",
)
QUOTA_BOOKINGS_PER_CUSTOMER_PER_HOUR = IntParam(
    "QUOTA_BOOKINGS_PER_CUSTOMER_PER_HOUR",
    default=300,
    description="createBooking + rearrangeBooking calls all users of one fleet customer may "
    "make in a clock hour",
)
QUOTA_CANCELS_PER_USER_PER_HOUR = IntParam(
    "QUOTA_CANCELS_PER_USER_PER_HOUR",
    default=60,
    description="cancelBooking calls one user may make in a clock hour",
)
QUOTA_CANCELS_PER_CUSTOMER_PER_HOUR = IntParam(
    "QUOTA_CANCELS_PER_CUSTOMER_PER_HOUR",
    default=300,
    description="cancelBooking calls all users of one fleet customer may make in a clock hour",
)
QUOTA_AVAILABILITY_DAYS_PER_USER_PER_MINUTE = IntParam(
    "QUOTA_AVAILABILITY_DAYS_PER_USER_PER_MINUTE",
    default=120,
    description="Days of availability (a 14-day view counts 14, cached or not) one user may "
    "view in a minute, counted per instance",
)
AVAILABILITY_CACHE_SECONDS = IntParam(
    "AVAILABILITY_CACHE_SECONDS",
    default=60,
    description="How long Keyloop's answer for a store's day is shown to every user without "
    "asking Keyloop again (our own bookings invalidate it at once); 0 turns the cache off",
)
KEYLOOP_MAX_CONCURRENT_CALLS = IntParam(
    "KEYLOOP_MAX_CONCURRENT_CALLS",
    default=16,
    description="Keyloop requests one instance has in flight at once (the rest wait); "
    "max instances x this is the most Keyloop sees from us at once",
)
# Origins of the ViSN Web UI allowed to call (CORS), comma-separated, e.g.
# https://app.visn.example. Read when the functions load (flask-cors is set up then).
WEB_UI_ORIGINS = StringParam(
    "WEB_UI_ORIGINS",
    default="",
    description="Comma-separated origins of the ViSN Web UI (CORS); localhost is allowed only "
    "for demo- projects",
)
