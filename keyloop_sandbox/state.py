"""All mutable sandbox state behind one lock.

The lock is held only while state changes or is copied out, never while sleeping or doing I/O,
so hundreds of concurrent requests (and stalled ones) do not serialise on it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from .config import SandboxConfig, StoreConfig
from .diary import Appointment, Diary
from .events import EventHub
from .faults import Fault, FaultQueue
from .requestlog import STALLED, LoggedRequest, RequestLog
from .times import Slot, slots_for_date
from .tokens import IssuedToken, TokenRegistry, TokenStatus


class ClientCheck(Enum):
    """Outcome of checking Basic credentials on the token endpoint."""

    OK = "ok"
    UNKNOWN_CLIENT = "unknown_client"
    INVALID_CLIENT = "invalid_client"


class Auth(Enum):
    """Outcome of checking a bearer token on an API call."""

    OK = "ok"
    MISSING = "missing"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    NOT_ENTITLED = "not_entitled"


@dataclass
class _Settings:
    """The run-time adjustable part of the config (`/_sandbox/config`, `/_sandbox/latency`)."""

    clients: dict[str, str]
    token_type: str
    token_ttl_seconds: float
    not_entitled_clients: set[str]
    latency_ms: float
    token_auth: str

    @classmethod
    def from_config(cls, config: SandboxConfig) -> _Settings:
        return cls(
            clients=config.clients(),
            token_type=config.token_type,
            token_ttl_seconds=config.token_ttl_seconds,
            not_entitled_clients=set(config.not_entitled_clients),
            latency_ms=config.latency_ms,
            token_auth=config.token_auth,
        )

    def to_json(self) -> dict[str, Any]:
        # Secrets are deliberately left out, even in a sandbox.
        return {
            "tokenType": self.token_type,
            "tokenTtlSeconds": self.token_ttl_seconds,
            "notEntitledClients": sorted(self.not_entitled_clients),
            "clients": sorted(self.clients),
            "latencyMs": self.latency_ms,
            "tokenAuth": self.token_auth,
        }


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint needs to answer: the token and the settings it was issued under."""

    token: IssuedToken
    issued_at_ms: int
    ttl_seconds: float
    token_type: str
    entitled: bool


@dataclass(frozen=True)
class SettingsUpdate:
    """A partial `/_sandbox/config` change; None fields are left as they are."""

    token_type: str | None = None
    token_ttl_seconds: float | None = None
    not_entitled_clients: list[str] | None = None
    clients: dict[str, str] = field(default_factory=dict)
    token_auth: str | None = None


class SandboxState:
    """The sandbox's diary, tokens, faults, request log and settings."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._settings = _Settings.from_config(config)
        self._diary = Diary(config.stores)
        self._tokens = TokenRegistry()
        self._faults = FaultQueue()
        self._log = RequestLog()
        self.events = EventHub(config.subscriptions)  # thread-safe on its own

    def reset(self) -> None:
        """Everything back to the startup config."""
        with self._lock:
            self._settings = _Settings.from_config(self._config)
            self._diary = Diary(self._config.stores)
            self._tokens = TokenRegistry()
            self._faults = FaultQueue()
            self._log = RequestLog()
        self.events.reset()

    def token_auth(self) -> str:
        with self._lock:
            return self._settings.token_auth

    # Settings

    def latency_seconds(self) -> float:
        """The artificial delay added to every API and token call."""
        with self._lock:
            return self._settings.latency_ms / 1000

    def set_latency(self, ms: float) -> None:
        """Change the artificial delay."""
        with self._lock:
            self._settings.latency_ms = ms

    def update_settings(self, update: SettingsUpdate) -> dict[str, Any]:
        """Apply a partial config change; returns the resulting settings."""
        with self._lock:
            settings = self._settings
            if update.token_type is not None:
                settings.token_type = update.token_type
            if update.token_ttl_seconds is not None:
                settings.token_ttl_seconds = update.token_ttl_seconds
            if update.not_entitled_clients is not None:
                settings.not_entitled_clients = set(update.not_entitled_clients)
            settings.clients.update(update.clients)
            if update.token_auth is not None:
                settings.token_auth = update.token_auth
            return settings.to_json()

    def settings_json(self) -> dict[str, Any]:
        """The current settings (no secrets)."""
        with self._lock:
            return self._settings.to_json()

    # Tokens

    def check_client(self, client_id: str, secret: str) -> ClientCheck:
        """Whether Basic credentials name a known client with the right secret."""
        with self._lock:
            expected = self._settings.clients.get(client_id)
        if expected is None:
            return ClientCheck.UNKNOWN_CLIENT
        return ClientCheck.OK if secret == expected else ClientCheck.INVALID_CLIENT

    def issue_token(self, client_id: str) -> TokenGrant:
        """A new token for a client already checked by `check_client`."""
        with self._lock:
            settings = self._settings
            token = self._tokens.issue(client_id, settings.token_ttl_seconds, time.monotonic())
            return TokenGrant(
                token=token,
                issued_at_ms=int(time.time() * 1000),
                ttl_seconds=settings.token_ttl_seconds,
                token_type=settings.token_type,
                entitled=client_id not in settings.not_entitled_clients,
            )

    def authorize(self, bearer: str | None) -> Auth:
        """Check a bearer token value the way the gateway does before any API call."""
        if not bearer:
            return Auth.MISSING
        with self._lock:
            status, token = self._tokens.check(bearer, time.monotonic())
            if status is TokenStatus.UNKNOWN or token is None:
                return Auth.UNKNOWN
            if status is TokenStatus.EXPIRED:
                return Auth.EXPIRED
            if token.client_id in self._settings.not_entitled_clients:
                return Auth.NOT_ENTITLED
            return Auth.OK

    def issued_tokens(self) -> list[str]:
        """In-process only (never over HTTP): lets a test search its logs for leaked tokens."""
        with self._lock:
            return self._tokens.values()

    def expire_tokens(self) -> int:
        """Expire every issued token; returns how many were live."""
        with self._lock:
            return self._tokens.expire_all()

    # Stores and appointments

    def store(self, enterprise_id: str, store_id: str) -> StoreConfig | None:
        """The store at those ids, if any."""
        with self._lock:
            return self._diary.store(enterprise_id, store_id)

    def put_store(self, store: StoreConfig) -> None:
        """Create or replace a store."""
        with self._lock:
            self._diary.put_store(store)

    def stores(self) -> list[StoreConfig]:
        """Every store."""
        with self._lock:
            return self._diary.stores()

    def availability(self, store: StoreConfig, day: date) -> list[tuple[Slot, int]]:
        """Every slot of `day` with its remaining capacity."""
        slots = slots_for_date(store, day)
        with self._lock:
            return [(slot, self._diary.remaining(store, slot)) for slot in slots]

    def book(self, store: StoreConfig, slot: Slot, request: dict[str, Any]) -> Appointment | None:
        """Atomically check and take a place in `slot`; None when it is full."""
        with self._lock:
            appointment = self._diary.book(store, slot, request, datetime.now(UTC))
        if appointment is not None:
            self.events.publish("created", appointment.appointment_id, *store.key, False)
        return appointment

    def cancel(self, store: StoreConfig, appointment_id: str, *, by_dealer: bool = False) -> bool:
        """Cancel a live booking of `store`; False when there is none with that id."""
        with self._lock:
            done = self._diary.cancel(
                store.enterprise_id, store.store_id, appointment_id, datetime.now(UTC)
            )
            if done and by_dealer:
                appointment = self._diary.get(appointment_id)
                if appointment is not None:
                    appointment.changed_by_dealer = True
        if done:
            self.events.publish("cancelled", appointment_id, *store.key, by_dealer)
        return done

    def appointment(self, appointment_id: str) -> Appointment | None:
        with self._lock:
            return self._diary.get(appointment_id)

    def repair_order(self, store: StoreConfig, appointment_id: str) -> dict[str, Any] | None:
        """The appointment read back as a repair order, if this store has it."""
        with self._lock:
            appointment = self._diary.get(appointment_id)
            if appointment is None or (appointment.enterprise_id, appointment.store_id) != (
                store.key
            ):
                return None
            return appointment.repair_order_json()

    def dealer_move(self, appointment: Appointment, store: StoreConfig, slot: Slot) -> str | None:
        """The dealer moves a booking in the DMS; None when done, else why not."""
        with self._lock:
            problem = self._diary.move(appointment.appointment_id, store, slot)
        if problem is None:
            self.events.publish("updated", appointment.appointment_id, *store.key, True)
        return problem

    def dealer_unbook(self, appointment: Appointment, labour_status: str) -> bool:
        """The dealer cancels the booking by unbooking its labour (how Keyloop's own adapter
        tells a cancel): the place is freed, the repair order stays open."""
        with self._lock:
            done = self._diary.cancel(
                appointment.enterprise_id,
                appointment.store_id,
                appointment.appointment_id,
                datetime.now(UTC),
            )
            if done:
                appointment.unbooked_as = labour_status
                appointment.changed_by_dealer = True
        if done:
            self.events.publish(
                "updated",
                appointment.appointment_id,
                appointment.enterprise_id,
                appointment.store_id,
                True,
            )
        return done

    def dealer_complete(self, appointment: Appointment, status: str) -> bool:
        with self._lock:
            done = self._diary.complete(appointment.appointment_id, status)
        if done:
            self.events.publish(
                "updated",
                appointment.appointment_id,
                appointment.enterprise_id,
                appointment.store_id,
                True,
            )
        return done

    def appointments_json(self, status: str | None = None) -> list[dict[str, Any]]:
        """Appointments in creation order, in the control shape."""
        with self._lock:
            return [a.to_json() for a in self._diary.appointments(status)]

    # Faults and the request log

    def add_fault(self, fault: Fault, count: int) -> list[dict[str, Any]]:
        """Queue a fault; returns every pending fault."""
        with self._lock:
            self._faults.add(fault, count)
            return self._faults.to_json()

    def clear_faults(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults = FaultQueue()

    def faults_json(self) -> list[dict[str, Any]]:
        """Every pending fault."""
        with self._lock:
            return self._faults.to_json()

    def begin_request(
        self, endpoint: str, method: str, path: str, correlation_id: str | None
    ) -> tuple[LoggedRequest, Fault | None]:
        """Log an arriving request and take its fault in one step, so both keep arrival order."""
        with self._lock:
            fault = self._faults.take(endpoint)
            entry = self._log.add(endpoint, method, path, correlation_id, datetime.now(UTC))
            if fault is not None and fault.stall_seconds > 0:
                entry.status = STALLED
            return entry, fault

    def finish_request(self, entry: LoggedRequest, status: int | str) -> None:
        """Record what was actually sent (an HTTP status, or `"dropped"`)."""
        with self._lock:
            entry.status = status

    def requests_json(self) -> dict[str, Any]:
        """The request log and counts per endpoint."""
        with self._lock:
            return self._log.to_json()
