"""ViSN's supplier (service unit) records: everything we read of them, cached briefly.

A record lives at `{SUPPLIERS_COLLECTION}/{supplierId}` (param, default `suppliers`). We read:
- `liveDiaryProvider`: ViSN's per-service-unit block, `{provider: "KEYLOOP", groupMappingId,
  supplierMappingId, serviceTypeMapping: {SERVICE|MOT|REPAIR|TYRE|GLASS: id},
  optionalServiceMapping: {COLLECTION_AND_DELIVERY|COURTESY_CAR|WHILE_YOU_WAIT: id}}`, plus
  three optional fields of ours (`enterpriseId`, `storeId`, `localTimes`);
- the time zone: `timezone` (an IANA name) when present, else from `locale` (ViSN's
  `en_IE`, `en_GB`). Both field names are assumed (ViSN's docs show the locale values, not
  the field's name): this module is the one place that maps them. docs/visn-data.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from firebase_functions import logger
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from keyloop import Store
from visn.contract.errors import FieldError, Reason, booking_error
from visn.infra import db, settings
from visn.infra.clients import firestore_client

SUPPLIERS = "suppliers"  # the default of settings.SUPPLIERS_COLLECTION
CACHE_SECONDS = 30.0  # the contract allows up to 60 s of staleness
DEFAULT_TIMEZONE = "Europe/London"
# ViSN's field names (assumed) and its locales' time zones.
TIMEZONE_FIELD = "timezone"
LOCALE_FIELD = "locale"
LOCALE_ZONES = {"en_GB": "Europe/London", "en_IE": "Europe/Dublin"}

_KeyloopId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
_Code = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,39}$")]


class LiveDiaryProviderConfig(BaseModel):
    """The `liveDiaryProvider` block of a supplier, as platform engineers write it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Literal["KEYLOOP"]
    groupMappingId: _KeyloopId  # noqa: N815 (ViSN's field names)
    supplierMappingId: _KeyloopId  # noqa: N815
    enterpriseId: _KeyloopId | None = None  # noqa: N815
    storeId: _KeyloopId | None = None  # noqa: N815
    serviceTypeMapping: Annotated[dict[_Code, _KeyloopId], Field(min_length=1)]  # noqa: N815
    optionalServiceMapping: dict[_Code, _KeyloopId] = Field(default_factory=dict)  # noqa: N815
    localTimes: bool = False  # noqa: N815


@dataclass(frozen=True)
class Supplier:
    supplier_id: str
    timezone: ZoneInfo
    store: Store | None  # None: the supplier takes no live diary bookings
    service_products: Mapping[str, str]
    appointment_options: Mapping[str, str]


def parse_supplier(supplier_id: str, data: Mapping[str, Any]) -> Supplier:
    """A Supplier from its document; a broken live diary block reads as 'no live diary'."""
    zone = supplier_zone(data)
    raw = data.get("liveDiaryProvider")
    if not isinstance(raw, Mapping) or raw.get("provider") != "KEYLOOP":
        return Supplier(supplier_id, zone, None, {}, {})
    try:
        cfg = LiveDiaryProviderConfig.model_validate(dict(raw))
    except ValidationError as exc:
        logger.error(
            "supplier live diary config invalid",
            supplierId=supplier_id,
            problems=[".".join(map(str, e["loc"])) for e in exc.errors()],
        )
        return Supplier(supplier_id, zone, None, {}, {})
    store = Store(
        # Keyloop's enterpriseId/storeId are ViSN's groupMappingId/supplierMappingId unless
        # the config names them apart (shared/keyloop-api.md).
        enterprise_id=cfg.enterpriseId or cfg.groupMappingId,
        store_id=cfg.storeId or cfg.supplierMappingId,
        local_time_zone=zone if cfg.localTimes else None,
    )
    return Supplier(
        supplier_id, zone, store, dict(cfg.serviceTypeMapping), dict(cfg.optionalServiceMapping)
    )


class SupplierCache:
    """A per-process cache of supplier documents; misses are not cached."""

    def __init__(
        self,
        load: Callable[[str], Mapping[str, Any] | None],
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Supplier]] = {}

    def get(self, supplier_id: str) -> Supplier:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(supplier_id)
        if entry is not None and now - entry[0] < self._ttl:
            return entry[1]
        data = self._load(supplier_id)
        if data is None:
            raise booking_error(Reason.SUPPLIER_NOT_FOUND)
        supplier = parse_supplier(supplier_id, data)
        with self._lock:
            self._entries[supplier_id] = (now, supplier)
        return supplier

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def suppliers_path() -> str:
    """The collection of ViSN's supplier records (configuration, default `suppliers`)."""
    return settings.SUPPLIERS_COLLECTION.value or SUPPLIERS


def supplier_zone(data: Mapping[str, Any]) -> ZoneInfo:
    """An explicit `timezone`, else the locale's zone, else the UK's."""
    explicit = _zone(data.get(TIMEZONE_FIELD))
    if explicit is not None:
        return explicit
    locale = data.get(LOCALE_FIELD)
    return ZoneInfo(
        LOCALE_ZONES.get(locale, DEFAULT_TIMEZONE) if isinstance(locale, str) else DEFAULT_TIMEZONE
    )


def _zone(name: Any) -> ZoneInfo | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _load_from_firestore(supplier_id: str) -> Mapping[str, Any] | None:
    snapshot = (
        firestore_client()
        .collection(suppliers_path())
        .document(supplier_id)
        .get(**db.call_options())
    )
    return snapshot.to_dict() if snapshot.exists else None


suppliers = SupplierCache(_load_from_firestore)


def live_supplier(supplier_id: str) -> tuple[Supplier, Store]:
    """The supplier and its Keyloop store, or NO_LIVE_DIARY."""
    supplier = suppliers.get(supplier_id)
    if supplier.store is None:
        raise booking_error(Reason.NO_LIVE_DIARY)
    return supplier, supplier.store


def resolve_services(
    supplier: Supplier, service_types: list[str], optional_service: str | None
) -> tuple[list[str], str | None]:
    """Keyloop service product ids and appointment option id for ViSN codes."""
    fields = [
        FieldError(f"serviceTypes.{i}", "is not offered by this supplier")
        for i, code in enumerate(service_types)
        if code not in supplier.service_products
    ]
    if optional_service is not None and optional_service not in supplier.appointment_options:
        fields.append(FieldError("optionalService", "is not offered by this supplier"))
    if fields:
        raise booking_error(Reason.UNKNOWN_SERVICE_TYPE, fields=fields)
    products = [supplier.service_products[code] for code in service_types]
    option = supplier.appointment_options[optional_service] if optional_service else None
    return products, option
