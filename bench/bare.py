"""The physical limit, timed bare in the same run: one Keyloop round trip, one Firestore write.

`BareKeyloop` is a keep-alive `requests.Session` holding a token it fetched once, so each call
is exactly one HTTP round trip to the sandbox. `BareFirestore` makes the writes createBooking's
saga makes (the claim: a transaction that reads every counter shard, bumps one and creates the
operation with the number; an update; and the closing batch: the enquiry created and the
operation completed) straight on a Firestore client.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import requests
from google.cloud import firestore
from requests.adapters import HTTPAdapter

from .plan import Plan, appointments_url, new_key, token_url
from .stack import CLIENT_ID, CLIENT_SECRET, PROJECT

TIMEOUT = 10.0


class BareKeyloop:
    def __init__(self, base_url: str, plan: Plan, pool_size: int = 10) -> None:
        self._base_url = base_url
        self._plan = plan
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_maxsize=pool_size)
        self._session.mount("http://", adapter)
        self._headers: dict[str, str] = {}

    def fetch_token(self) -> None:
        response = self._session.post(
            token_url(self._base_url),
            data={"grant_type": "client_credentials"},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=TIMEOUT,
        )
        response.raise_for_status()
        self._headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def availability(self, day: date) -> Any:
        return self._post("/availability", self._plan.keyloop_availability(day))

    def create(self, hour: int = 10) -> Any:
        return self._post("", self._plan.keyloop_appointment(hour))

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = self._session.post(
            appointments_url(self._base_url) + path,
            json=body,
            headers=self._headers,
            timeout=TIMEOUT,
        )
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self._session.close()


class BareFirestore:
    """Writes shaped like the saga's, in a collection of their own."""

    def __init__(self) -> None:
        self._db = firestore.Client(project=PROJECT)
        # A counter shaped like ViSN's enquiry number counter, for the final write.
        self._counter = self._db.collection("benchCounter")
        for shard in range(10):
            self._counter.document(str(shard)).set({"count": 0})

    def create(self) -> str:
        """The claim: a transaction that reads every counter shard, bumps one, and creates the
        operation carrying the number (createBooking takes its number in the claim)."""
        doc_id = new_key()

        @firestore.transactional
        def claim(transaction: Any) -> None:
            shards = list(transaction.get(self._counter.limit(100)))
            transaction.update(shards[0].reference, {"count": firestore.Increment(1)})
            transaction.create(
                self._db.collection("benchOperations").document(doc_id),
                {
                    "kind": "createBooking",
                    "uid": "bench-user",
                    "customerId": "cust-bench",
                    "supplierId": "keyloop-leeds",
                    "enquiryId": new_key(),
                    "requestHash": "0" * 64,
                    "status": "IN_PROGRESS",
                    "attempts": 1,
                    "enquiryNumber": len(shards),
                    "createdAt": firestore.SERVER_TIMESTAMP,
                    "updatedAt": firestore.SERVER_TIMESTAMP,
                },
            )

        claim(self._db.transaction())
        return doc_id

    def update(self, doc_id: str) -> None:
        self._db.collection("benchOperations").document(doc_id).update(
            {
                "status": "BOOKED",
                "appointmentId": new_key(),
                "appointmentRef": "KL-ABCDEF",
                "updatedAt": firestore.SERVER_TIMESTAMP,
            }
        )

    def batch(self, doc_id: str) -> None:
        """The saga's closing write: one batch that creates the enquiry and completes the
        operation."""
        batch = self._db.batch()
        batch.create(
            self._db.collection("benchEnquiries").document(new_key()),
            {
                "customerId": "cust-bench",
                "supplierId": "keyloop-leeds",
                "status": "BOOKED",
                "serviceTypes": ["SERVICE", "MOT"],
                "slot": {"start": "2027-01-12T10:00:00+00:00", "end": None},
                "vehicle": {"registration": "AB12CDE"},
                "contact": {"givenName": "Ada", "familyName": "Lovelace"},
                "enquiryNumber": 1,
                "createdAt": firestore.SERVER_TIMESTAMP,
                "updatedAt": firestore.SERVER_TIMESTAMP,
            },
        )
        batch.update(
            self._db.collection("benchOperations").document(doc_id),
            {
                "status": "COMPLETED",
                "result": {"ok": True},
                "updatedAt": firestore.SERVER_TIMESTAMP,
            },
        )
        batch.commit()

    def close(self) -> None:
        self._db.close()  # type: ignore[no-untyped-call]
