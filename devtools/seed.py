"""Demo data shared by `make dev` and the tests: suppliers that match the sandbox's stores,
in ViSN's shape (a `locale`, no time zone field), and ViSN's enquiry number counter."""

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
        "locale": "en_GB",
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
        "locale": "en_IE",
        "liveDiaryProvider": {
            "provider": "KEYLOOP",
            "groupMappingId": "ENT-2002",
            "supplierMappingId": "STORE-07",
            "serviceTypeMapping": {k: SERVICE_PRODUCTS[k] for k in ("SERVICE", "MOT", "TYRE")},
            "optionalServiceMapping": {"COURTESY_CAR": APPOINTMENT_OPTIONS["COURTESY_CAR"]},
            "localTimes": True,
        },
    },
    NO_DIARY_SUPPLIER: {"name": "Corner Garage (no live diary)", "locale": "en_GB"},
}

# ViSN's distributed enquiry number counter (visn/records/enquiry_numbers.py): shards "0".."9" whose
# counts add up to the next number, as a ViSN project that has taken enquiries for years.
ENQUIRY_COUNTER = "ancillary/counters/enquiryNumber"
DEMO_COUNTER_SHARDS = {str(i): {"count": 10_400 + i} for i in range(10)}
DEMO_NEXT_ENQUIRY_NUMBER = sum(s["count"] for s in DEMO_COUNTER_SHARDS.values())


def seed_firestore(db: Any) -> None:
    """The demo suppliers and the counter, with an Admin SDK Firestore client."""
    for supplier_id, document in DEMO_SUPPLIERS.items():
        db.collection("suppliers").document(supplier_id).set(document)
    for shard_id, shard in DEMO_COUNTER_SHARDS.items():
        db.collection(ENQUIRY_COUNTER).document(shard_id).set(shard)


# Two users of two fleet customers, for the auth emulator.
DEMO_USERS = [
    {"email": "fleet.a@example.com", "password": "demo-pass-a", "customerId": "cust-a"},
    {"email": "fleet.b@example.com", "password": "demo-pass-b", "customerId": "cust-b"},
]
