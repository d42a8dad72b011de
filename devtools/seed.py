"""Demo data shared by `make dev` and the tests: suppliers that match the sandbox's stores."""

from __future__ import annotations

from typing import Any

SERVICE_PRODUCTS = {
    code: f"3f0c6a52-6f7e-4d4b-9b1e-0a000000000{n}"
    for n, code in enumerate(["SERVICE", "MOT", "REPAIR", "TYRE", "GLASS"], start=1)
}
APPOINTMENT_OPTIONS = {
    code: f"7a1d2e3f-0000-4000-8000-00000000000{n}"
    for n, code in enumerate(["COLLECTION_AND_DELIVERY", "COURTESY_CAR", "WHILE_YOU_WAIT"], start=1)
}

UK_SUPPLIER = "keyloop-leeds"
IE_SUPPLIER = "keyloop-dublin"
NO_DIARY_SUPPLIER = "garage-no-diary"

DEMO_SUPPLIERS: dict[str, dict[str, Any]] = {
    UK_SUPPLIER: {
        "name": "Leeds Motors (Keyloop sandbox)",
        "timezone": "Europe/London",
        "liveDiaryProvider": {
            "provider": "KEYLOOP",
            "groupMappingId": "ENT-1001",
            "supplierMappingId": "STORE-01",
            "serviceTypeMapping": SERVICE_PRODUCTS,
            "optionalServiceMapping": APPOINTMENT_OPTIONS,
        },
    },
    IE_SUPPLIER: {
        "name": "Dublin Autos (Keyloop sandbox, local times)",
        "timezone": "Europe/Dublin",
        "liveDiaryProvider": {
            "provider": "KEYLOOP",
            "groupMappingId": "ENT-2002",
            "supplierMappingId": "STORE-07",
            "serviceTypeMapping": {k: SERVICE_PRODUCTS[k] for k in ("SERVICE", "MOT", "TYRE")},
            "optionalServiceMapping": {"COURTESY_CAR": APPOINTMENT_OPTIONS["COURTESY_CAR"]},
            "localTimes": True,
        },
    },
    NO_DIARY_SUPPLIER: {"name": "Corner Garage (no live diary)", "timezone": "Europe/London"},
}

# Two users of two fleet customers, for the auth emulator.
DEMO_USERS = [
    {"email": "fleet.a@example.com", "password": "demo-pass-a", "customerId": "cust-a"},
    {"email": "fleet.b@example.com", "password": "demo-pass-b", "customerId": "cust-b"},
]
