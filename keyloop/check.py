"""Is a dealer's Keyloop set-up usable from here? One token, one availability call, narrated.

`run_check` reads the connection settings and credentials from the environment (the same
names the deployed functions use), asks Keyloop for availability once, and writes what
happened step by step: HTTP status, time, Keyloop fault code and our correlation id of each
call, then OK or FAILED with a hint for the kind of failure.

It never writes the client secret, the access token or the client id (Apigee treats the id
as a credential too): the steps come from the client's observer, which sees neither, and
error texts carry only fixed words, the status, the fault code and the correlation id.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TextIO

import requests

from .client import CallRecord, KeyloopClient
from .config import KeyloopSettings
from .credentials import (
    CredentialsProvider,
    SecretManagerCredentials,
    StaticCredentials,
    secret_resource_name,
)
from .errors import (
    KeyloopAuthenticationError,
    KeyloopBadResponseError,
    KeyloopConfigurationError,
    KeyloopError,
    KeyloopGatewayNotFoundError,
    KeyloopInvalidRequestError,
    KeyloopNotEntitledError,
    KeyloopRateLimitedError,
    KeyloopRejectedError,
    KeyloopTimeoutError,
    KeyloopUnavailableError,
)
from .models import Slot, Store

BASE_URL_ENV = "KEYLOOP_BASE_URL"
CLIENT_ID_ENV = "KEYLOOP_CLIENT_ID"
CLIENT_SECRET_ENV = "KEYLOOP_CLIENT_SECRET"  # noqa: S105 (the variable's name, not a secret)
CREDENTIALS_SECRET_ENV = "KEYLOOP_CREDENTIALS_SECRET"  # noqa: S105
CONNECT_TIMEOUT_ENV = "KEYLOOP_CONNECT_TIMEOUT_MS"
READ_TIMEOUT_ENV = "KEYLOOP_READ_TIMEOUT_MS"

# Most specific first: the first class the error is an instance of gives the hint.
HINTS: tuple[tuple[type[KeyloopError], str], ...] = (
    (
        KeyloopConfigurationError,
        f"set {BASE_URL_ENV} (https://api.eu-stage.keyloop.io for EU staging, "
        f"https://api.eu.keyloop.io for EU production) and {CLIENT_ID_ENV} + "
        f"{CLIENT_SECRET_ENV}, or {CREDENTIALS_SECRET_ENV}",
    ),
    (
        KeyloopInvalidRequestError,
        "an id is not a well-formed Keyloop id: check the enterprise, store, service product "
        "and option ids",
    ),
    (
        KeyloopAuthenticationError,
        "Keyloop refused the client: check client id/secret (staging and production "
        "credentials differ; a rotated secret must be updated here too)",
    ),
    (
        KeyloopNotEntitledError,
        "the app is not entitled to the appointments API product: ask Keyloop to add it",
    ),
    (
        KeyloopGatewayNotFoundError,
        "check enterprise/store ids: Keyloop does not know this store (or it is not "
        "enabled for this app)",
    ),
    (
        KeyloopRejectedError,
        "Keyloop refused the request: check that the service product and option ids belong "
        "to this store",
    ),
    (
        KeyloopRateLimitedError,
        "Keyloop is rate limiting this app: wait a minute and try again; if it persists, "
        "ask Keyloop about the app's quota",
    ),
    (
        KeyloopTimeoutError,
        f"Keyloop unreachable from here: no answer in time (check {BASE_URL_ENV}, the "
        "network path and Keyloop's status)",
    ),
    (
        KeyloopUnavailableError,
        f"Keyloop unreachable from here: check {BASE_URL_ENV}, proxy/firewall rules, and "
        "Keyloop's status page",
    ),
    (
        KeyloopBadResponseError,
        "Keyloop answered with something we cannot read: send the correlation id to "
        "Keyloop support",
    ),
)
UNEXPECTED_HINT = "an unexpected error: run again; if it repeats, report it with this output"
CREDENTIALS_READ_HINT = (
    "could not read the credentials secret: check its name, that it exists in this project, "
    "and that you (or the service account) have roles/secretmanager.secretAccessor"
)


@dataclass(frozen=True)
class CheckTarget:
    """What to ask Keyloop about: one store, one day, one or more service products."""

    store: Store
    day: date
    service_product_ids: tuple[str, ...]
    appointment_option_id: str | None = None


@dataclass
class CheckResult:
    ok: bool = False
    calls: list[CallRecord] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)
    error: Exception | None = None
    hint: str | None = None


def hint_for(error: Exception) -> str:
    for kind, hint in HINTS:
        if isinstance(error, kind):
            return hint
    return UNEXPECTED_HINT


def settings_from_environment(env: Mapping[str, str]) -> KeyloopSettings:
    """KeyloopSettings from the deployed functions' variable names; raises on bad values."""
    return KeyloopSettings(
        env.get(BASE_URL_ENV, ""),
        connect_timeout=_milliseconds(env, CONNECT_TIMEOUT_ENV, 3050) / 1000,
        read_timeout=_milliseconds(env, READ_TIMEOUT_ENV, 10000) / 1000,
    )


def credentials_from_environment(env: Mapping[str, str]) -> tuple[CredentialsProvider, str]:
    """The credentials provider and a description of where it reads from (no values).

    As in the deployed functions, KEYLOOP_CREDENTIALS_SECRET wins when it is set.
    """
    secret_name = env.get(CREDENTIALS_SECRET_ENV, "").strip()
    if secret_name:
        project = env.get("GOOGLE_CLOUD_PROJECT") or env.get("GCLOUD_PROJECT")
        resource = secret_resource_name(secret_name, project)
        return (
            SecretManagerCredentials(resource),
            f"Secret Manager {resource} ({CREDENTIALS_SECRET_ENV})",
        )
    provider = StaticCredentials(env.get(CLIENT_ID_ENV), env.get(CLIENT_SECRET_ENV))
    return provider, f"{CLIENT_ID_ENV} + {CLIENT_SECRET_ENV} from the environment"


def run_check(
    target: CheckTarget,
    *,
    env: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    credentials: CredentialsProvider | None = None,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> CheckResult:
    """Run the check, writing its story to `out` (stdout by default)."""
    story = _Story(out or sys.stdout, clock)
    story.header(target)
    env = os.environ if env is None else env
    try:
        settings = settings_from_environment(env)
        story.say("  Keyloop", settings.base_url)
        if credentials is None:
            credentials, source = credentials_from_environment(env)
        else:
            source = "given by the caller"
        story.say("  credentials", source)
    except KeyloopError as exc:
        return story.failed(exc)

    read_started = clock()
    try:
        credentials.get()
    except Exception as exc:  # also Secret Manager's own errors: permission, not found, network
        story.step("credentials", "", type(exc).__name__, clock() - read_started)
        return story.failed(exc, None if isinstance(exc, KeyloopError) else CREDENTIALS_READ_HINT)
    story.step("credentials", "", "read", clock() - read_started)

    client = KeyloopClient(
        settings, credentials, observer=story.observe, session=session, clock=clock
    )
    try:
        slots = client.availability(
            target.store, target.day, target.service_product_ids, target.appointment_option_id
        )
    except Exception as exc:
        return story.failed(exc)
    finally:
        client.close()
    return story.succeeded(target, slots)


class _Story:
    """What the check writes, and the result it builds on the way."""

    def __init__(self, stream: TextIO, clock: Callable[[], float]) -> None:
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._steps = 0
        self.result = CheckResult()

    def say(self, label: str, text: str) -> None:
        print(f"{label:<18}{text}".rstrip(), file=self._stream, flush=True)

    def header(self, target: CheckTarget) -> None:
        zone = target.store.local_time_zone
        self.say("Keyloop check", "")
        self.say(
            "  store", f"enterprise {target.store.enterprise_id}, store {target.store.store_id}"
        )
        self.say("  date", target.day.isoformat())
        self.say("  products", ", ".join(target.service_product_ids) or "(none)")
        self.say("  option", target.appointment_option_id or "(none)")
        self.say("  times", f"store-local, {zone.key} (localTimes)" if zone else "UTC")

    def step(
        self, what: str, status: str, outcome: str, seconds: float | None, cid: str | None = None
    ) -> None:
        self._steps += 1
        took = _ms(seconds) if seconds is not None else ""
        tail = f"  correlation-id {cid}" if cid else ""
        self.say(f"{self._steps}.  {what}", f"{status:<11}{outcome:<28}{took:>8}{tail}")

    def observe(self, call: CallRecord) -> None:
        """The client's observer: one line per logical call (token, availability)."""
        calls = self.result.calls
        previous = calls[-1] if calls else None
        calls.append(call)
        if call.status is None and previous is not None and previous.outcome != "ok":
            # The client reports the API call too, but without a token it never left here.
            self.step(call.operation, "not sent", "(no token)", None)
            return
        status = f"HTTP {call.status}" if call.status is not None else "no answer"
        self.step(call.operation, status, call.outcome, call.elapsed_ms / 1000, call.correlation_id)

    def succeeded(self, target: CheckTarget, slots: list[Slot]) -> CheckResult:
        self.result.ok = True
        self.result.slots = slots
        day = target.day.isoformat()
        if slots:
            first, last = _when(slots[0], target.store), _when(slots[-1], target.store)
            self.say("slots", f"{len(slots)} free on {day}: first {first}, last {last}")
        else:
            self.say(
                "slots",
                f"none free on {day} (the call worked; the store may be closed or full that "
                "day: try another --date)",
            )
        return self._finish()

    def failed(self, exc: Exception, hint: str | None = None) -> CheckResult:
        self.result.error = exc
        self.result.hint = hint or hint_for(exc)
        if isinstance(exc, KeyloopError):
            # KeyloopError texts are fixed words plus status, fault code and correlation id.
            self.say("error", f"{type(exc).__name__}: {exc.message}")
            if exc.status is not None:
                self.say("  HTTP status", str(exc.status))
            if exc.fault_code:
                self.say("  fault code", exc.fault_code)
            if exc.correlation_id:
                self.say("  correlation-id", exc.correlation_id)
        else:
            # Anything else may carry text we do not control: its class name only.
            self.say("error", type(exc).__name__)
        return self._finish()

    def _finish(self) -> CheckResult:
        if self.result.hint:
            self.say("hint", self.result.hint)
        took = _ms(self._clock() - self._started)
        self.say("OK" if self.result.ok else "FAILED", f"in {took}")
        return self.result


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _when(slot: Slot, store: Store) -> str:
    start = slot.start.astimezone(store.local_time_zone) if store.local_time_zone else slot.start
    return start.isoformat()


def _milliseconds(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise KeyloopConfigurationError(f"{name} must be a whole number of milliseconds") from None
    if value <= 0:
        raise KeyloopConfigurationError(f"{name} must be positive")
    return value
