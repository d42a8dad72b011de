"""An event subscriber: where the sandbox posts Keyloop's events, with which key, for which
stores. Its own module because both the startup configuration (config) and the delivery
(events) need it, and events needs times, which needs config: here it depends on nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Subscription:
    url: str
    secret: str = field(repr=False)
    enterprise_id: str | None = None  # None: every store
    store_id: str | None = None

    def covers(self, enterprise_id: str, store_id: str) -> bool:
        return self.enterprise_id in (None, enterprise_id) and self.store_id in (None, store_id)

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "enterpriseId": self.enterprise_id, "storeId": self.store_id}
