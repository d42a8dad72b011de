"""A Keyloop store as our records keep it: what a cancel or a read-back needs to find an
appointment without the supplier's config (which may change meanwhile). Kept on operations,
compensation records and the enquiry's `dms` block.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from keyloop import Store


def store_fields(store: Store) -> dict[str, Any]:
    """What a cancel needs to find the appointment, kept wherever a cancel may be owed."""
    return {
        "enterpriseId": store.enterprise_id,
        "storeId": store.store_id,
        "localTimeZone": store.local_time_zone.key if store.local_time_zone else None,
    }


def store_from(fields: dict[str, Any]) -> Store:
    zone = fields.get("localTimeZone")
    return Store(fields["enterpriseId"], fields["storeId"], ZoneInfo(zone) if zone else None)
