"""What the benchmark books: real future dates (the functions use the real clock)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from devtools.seed import SERVICE_PRODUCTS, UK_SUPPLIER

from .stack import ENTERPRISE_ID, STORE_ID

ZONE = ZoneInfo("Europe/London")  # the supplier's and the store's zone
SERVICE_TYPES = ["SERVICE", "MOT"]
DAYS_AHEAD = 3


@dataclass(frozen=True)
class Plan:
    day: date  # a weekday a few days ahead: the store is open, the 180-day window holds

    @classmethod
    def from_today(cls) -> Plan:
        day = datetime.now(ZONE).date() + timedelta(days=DAYS_AHEAD)
        while day.weekday() > 4:
            day += timedelta(days=1)
        return cls(day)

    def slot(self, hour: int) -> datetime:
        return datetime.combine(self.day, time(hour), ZONE)

    # -- callable requests -----------------------------------------------------------------

    def availability(self, days: int) -> dict[str, Any]:
        return {
            "supplierId": UK_SUPPLIER,
            "date": self.day.isoformat(),
            "days": days,
            "serviceTypes": SERVICE_TYPES,
        }

    def booking(self, hour: int = 10) -> dict[str, Any]:
        return {
            "idempotencyKey": new_key(),
            "supplierId": UK_SUPPLIER,
            "serviceTypes": SERVICE_TYPES,
            "slot": {"start": self.slot(hour).isoformat()},
            "vehicle": {"registration": "AB12 CDE", "mileage": {"value": 42000, "unit": "MI"}},
            "contact": {"givenName": "Ada", "familyName": "Lovelace", "email": "ada@example.com"},
            "notes": "Benchmark booking.",
        }

    def rearrangement(self, enquiry_id: str, hour: int = 11) -> dict[str, Any]:
        return {
            "idempotencyKey": new_key(),
            "enquiryId": enquiry_id,
            "slot": {"start": self.slot(hour).isoformat()},
        }

    # -- the same requests as Keyloop bodies -----------------------------------------------

    def keyloop_availability(self, day: date) -> dict[str, Any]:
        return {
            "enterpriseId": ENTERPRISE_ID,
            "storeId": STORE_ID,
            "date": day.isoformat(),
            "serviceProducts": _products(),
        }

    def keyloop_appointment(self, hour: int = 10) -> dict[str, Any]:
        start = self.slot(hour).astimezone(UTC)
        return {
            "details": {
                "externalReference": new_key(),
                "dueInDateTime": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "customerNotes": "Benchmark booking.",
            },
            "customer": {
                "names": {"givenName": "Ada", "familyName": "Lovelace"},
                "contactInformation": {"email": "ada@example.com"},
            },
            "vehicle": {
                "identification": {"licensePlate": "AB12CDE"},
                "mileage": {"unit": "MI", "value": 42000},
            },
            "serviceProducts": _products(),
        }


def _products() -> list[dict[str, str]]:
    return [{"serviceProductId": SERVICE_PRODUCTS[code]} for code in SERVICE_TYPES]


def new_key() -> str:
    return f"bench-{uuid.uuid4().hex}"


def appointments_url(base_url: str) -> str:
    return f"{base_url}/appointment/{ENTERPRISE_ID}/{STORE_ID}/v1/appointments"


def token_url(base_url: str) -> str:
    return f"{base_url}/oauth/client_credential/accesstoken?grant_type=client_credentials"
