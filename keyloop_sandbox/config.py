"""Startup configuration: the known clients, timings and stores the sandbox resets to."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .jsonbody import BadRequestError, boolean, reject_unknown_keys, string_list
from .subscription import Subscription

DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret"  # noqa: S105 - a public sandbox credential
DEFAULT_TOKEN_TTL_SECONDS = 3599.0
DEFAULT_TOKEN_TYPE = "BearerToken"  # noqa: S105 - a token type name, not a secret
# How the token endpoint takes the client's credentials: "either" (Basic header or form body),
# or only "basic", or only "form" (tenants are set up one way or the other).
TOKEN_AUTH_MODES = ("either", "basic", "form")

# Index N-1 of each tuple is id N of the brief: products SERVICE, MOT, REPAIR, TYRE, GLASS;
# options COLLECTION_AND_DELIVERY, COURTESY_CAR, WHILE_YOU_WAIT.
SERVICE_PRODUCT_IDS = tuple(f"3f0c6a52-6f7e-4d4b-9b1e-0a000000000{n}" for n in range(1, 6))
APPOINTMENT_OPTION_IDS = tuple(f"7a1d2e3f-0000-4000-8000-00000000000{n}" for n in range(1, 4))

_T = TypeVar("_T")

_STORE_FIELDS = (
    "enterpriseId",
    "storeId",
    "timezone",
    "open",
    "close",
    "weekdays",
    "slotMinutes",
    "capacity",
    "serviceProducts",
    "appointmentOptions",
    "localTimes",
    "closedDates",
)


@dataclass(frozen=True)
class StoreConfig:
    """One Keyloop store (a supplier's diary): opening hours, slot grid and catalogue."""

    enterprise_id: str
    store_id: str
    timezone: str = "Europe/London"
    open_time: time = time(8, 0)
    close_time: time = time(17, 0)
    weekdays: frozenset[int] = frozenset(range(6))  # Monday=0 … Saturday=5
    slot_minutes: int = 60
    capacity: int = 2
    service_products: tuple[str, ...] = SERVICE_PRODUCT_IDS
    appointment_options: tuple[str, ...] = APPOINTMENT_OPTION_IDS
    # True: times on the wire are store-local wall-clock with a literal "Z" (Keyloop's quirk).
    local_times: bool = False
    # Days the dealer takes no bookings (holidays, a diary closed while it is full).
    closed_dates: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not self.enterprise_id or not self.store_id:
            raise ValueError("enterpriseId and storeId must be non-empty")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"Unknown timezone: {self.timezone}") from None
        if self.open_time >= self.close_time:
            raise ValueError("open must be before close")
        if not self.weekdays <= frozenset(range(7)):
            raise ValueError("weekdays must be integers 0 (Monday) to 6 (Sunday)")
        if self.slot_minutes <= 0 or self.capacity < 0:
            raise ValueError("slotMinutes must be > 0 and capacity >= 0")

    @property
    def key(self) -> tuple[str, str]:
        """(enterpriseId, storeId): how stores are looked up from a request path."""
        return (self.enterprise_id, self.store_id)

    @property
    def zone(self) -> ZoneInfo:
        """The store's time zone (ZoneInfo caches instances by key)."""
        return ZoneInfo(self.timezone)

    def to_json(self) -> dict[str, Any]:
        """The control endpoint's store shape."""
        return {
            "enterpriseId": self.enterprise_id,
            "storeId": self.store_id,
            "timezone": self.timezone,
            "open": self.open_time.strftime("%H:%M"),
            "close": self.close_time.strftime("%H:%M"),
            "weekdays": sorted(self.weekdays),
            "slotMinutes": self.slot_minutes,
            "capacity": self.capacity,
            "serviceProducts": list(self.service_products),
            "appointmentOptions": list(self.appointment_options),
            "localTimes": self.local_times,
            "closedDates": sorted(d.isoformat() for d in self.closed_dates),
        }


def default_stores() -> tuple[StoreConfig, ...]:
    """The two stores `make dev` and the tests rely on (keep the ids stable)."""
    return (
        StoreConfig("ENT-1001", "STORE-01"),
        StoreConfig(
            "ENT-2002",
            "STORE-07",
            timezone="Europe/Dublin",
            open_time=time(7, 30),
            close_time=time(16, 30),
            weekdays=frozenset(range(5)),
            slot_minutes=30,
            capacity=1,
            local_times=True,
        ),
    )


@dataclass(frozen=True)
class SandboxConfig:
    """Everything `POST /_sandbox/reset` returns the sandbox to."""

    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    token_ttl_seconds: float = DEFAULT_TOKEN_TTL_SECONDS
    latency_ms: float = 0.0
    token_type: str = DEFAULT_TOKEN_TYPE
    extra_clients: Mapping[str, str] = field(default_factory=dict)
    not_entitled_clients: frozenset[str] = frozenset()
    stores: tuple[StoreConfig, ...] = field(default_factory=default_stores)
    token_auth: str = "either"  # noqa: S105 - a mode name, not a secret
    subscriptions: tuple[Subscription, ...] = ()  # event subscribers from startup

    def clients(self) -> dict[str, str]:
        """Every known client id with its secret."""
        return {**self.extra_clients, self.client_id: self.client_secret}


def store_from_json(
    data: dict[str, Any], enterprise_id: str | None = None, store_id: str | None = None
) -> StoreConfig:
    """Build a store from the control shape; path ids win, body ids must agree with them."""
    reject_unknown_keys(data, _STORE_FIELDS)
    ids = {"enterpriseId": enterprise_id, "storeId": store_id}
    for key, from_path in ids.items():
        given = data.get(key)
        if from_path is not None and given is not None and given != from_path:
            raise BadRequestError(f"{key} does not match the path")
        ids[key] = from_path if from_path is not None else given
        if not isinstance(ids[key], str):
            raise BadRequestError(f"{key} is required")
    base = StoreConfig("_", "_")
    try:
        return StoreConfig(
            enterprise_id=str(ids["enterpriseId"]),
            store_id=str(ids["storeId"]),
            timezone=_get(data, "timezone", str, base.timezone),
            open_time=_clock(data.get("open"), base.open_time, "open"),
            close_time=_clock(data.get("close"), base.close_time, "close"),
            weekdays=_weekdays(data.get("weekdays"), base.weekdays),
            slot_minutes=_get(data, "slotMinutes", int, base.slot_minutes),
            capacity=_get(data, "capacity", int, base.capacity),
            service_products=_ids(data, "serviceProducts", base.service_products),
            appointment_options=_ids(data, "appointmentOptions", base.appointment_options),
            local_times=boolean(data.get("localTimes", base.local_times), "localTimes"),
            closed_dates=_dates(data.get("closedDates"), base.closed_dates),
        )
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None


def load_stores_file(path: Path) -> list[StoreConfig]:
    """Stores from a JSON list of control-shaped objects that also carry their ids."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError(f"{path}: expected a JSON list of store objects")
    try:
        return [store_from_json(item) for item in data]
    except BadRequestError as exc:
        raise ValueError(f"{path}: {exc.message}") from None


def merge_stores(
    base: Iterable[StoreConfig], extra: Iterable[StoreConfig]
) -> tuple[StoreConfig, ...]:
    """`base` with `extra` added; an extra store with the same ids replaces the base one."""
    merged = {store.key: store for store in base}
    merged.update((store.key, store) for store in extra)
    return tuple(merged.values())


def _get(data: dict[str, Any], key: str, kind: type[_T], default: _T) -> _T:
    value = data.get(key, default)
    # bool is an int subclass: refuse it where a count is expected.
    if isinstance(value, bool) or not isinstance(value, kind):
        raise BadRequestError(f"{key} must be a {kind.__name__}")
    return value


def _clock(value: Any, default: time, label: str) -> time:
    if value is None:
        return default
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise BadRequestError(f"{label} must be HH:MM")
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise BadRequestError(f"{label} must be HH:MM") from None


def _weekdays(value: Any, default: frozenset[int]) -> frozenset[int]:
    if value is None:
        return default
    if not isinstance(value, list) or not all(
        isinstance(day, int) and not isinstance(day, bool) for day in value
    ):
        raise BadRequestError("weekdays must be a list of integers (Monday=0)")
    return frozenset(value)


def _dates(value: Any, default: frozenset[date]) -> frozenset[date]:
    if value is None:
        return default
    try:
        return frozenset(date.fromisoformat(day) for day in string_list(value, "closedDates"))
    except ValueError:
        raise BadRequestError("closedDates must be a list of YYYY-MM-DD dates") from None


def _ids(data: dict[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    if key not in data:
        return default
    return tuple(string_list(data[key], key))
