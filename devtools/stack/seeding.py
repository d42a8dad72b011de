"""Demo data into a running stack's emulators over REST: suppliers, ViSN's counter, users."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from ..processes import StartError
from ..seed import DEMO_COUNTER_SHARDS, DEMO_SUPPLIERS, DEMO_USERS, ENQUIRY_COUNTER

OWNER = {"Authorization": "Bearer owner"}  # the emulators' admin bearer, not a credential


@dataclass(frozen=True)
class EmulatorData:
    """Reads and writes one project's documents and users in the Firestore and Auth
    emulators, as their owner."""

    http: requests.Session
    project: str
    firestore_host: str
    auth_url: str

    def seed(self) -> list[dict[str, str]]:
        """Demo suppliers and ViSN's enquiry number counter into Firestore, demo users (with
        customerId claims) into Auth; returns the users with their uids."""
        for supplier_id, document in DEMO_SUPPLIERS.items():
            self.put_document("suppliers", supplier_id, document)
        for shard_id, shard in DEMO_COUNTER_SHARDS.items():
            self.put_document(ENQUIRY_COUNTER, shard_id, shard)
        return [self._create_user(user) for user in DEMO_USERS]

    def document_url(self, collection: str, doc_id: str) -> str:
        return (
            f"http://{self.firestore_host}/v1/projects/{self.project}"
            f"/databases/(default)/documents/{collection}/{doc_id}"
        )

    def put_document(self, collection: str, doc_id: str, document: dict[str, Any]) -> None:
        response = self.http.patch(
            self.document_url(collection, doc_id),
            json={"fields": {k: firestore_value(v) for k, v in document.items()}},
            headers=OWNER,
            timeout=10,
        )
        _raise_for(response, f"writing {collection}/{doc_id}")

    def get_document(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        response = self.http.get(self.document_url(collection, doc_id), headers=OWNER, timeout=10)
        if response.status_code == 404:
            return None
        _raise_for(response, f"reading {collection}/{doc_id}")
        return {k: from_firestore_value(v) for k, v in response.json().get("fields", {}).items()}

    def _create_user(self, user: dict[str, str]) -> dict[str, str]:
        accounts = (
            f"{self.auth_url}/identitytoolkit.googleapis.com/v1/projects/{self.project}/accounts"
        )
        response = self.http.post(
            accounts,
            json={"email": user["email"], "password": user["password"]},
            headers=OWNER,
            timeout=10,
        )
        _raise_for(response, "creating a demo user")
        uid = str(response.json()["localId"])
        # Account creation ignores customAttributes; the claims need an update.
        claims = json.dumps({"customerId": user["customerId"]})
        response = self.http.post(
            f"{accounts}:update",
            json={"localId": uid, "customAttributes": claims},
            headers=OWNER,
            timeout=10,
        )
        _raise_for(response, "setting a demo user's claims")
        return {**user, "uid": uid}


def _raise_for(response: requests.Response, what: str) -> None:
    if not response.ok:
        # The status only: bodies may echo what was sent.
        raise StartError(f"{what} failed: HTTP {response.status_code}")


def firestore_value(value: Any) -> dict[str, Any]:
    """A plain JSON value in the Firestore REST API's typed form."""
    if value is None:
        return {"nullValue": None}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"integerValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, dict):
        return {"mapValue": {"fields": {str(k): firestore_value(v) for k, v in value.items()}}}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [firestore_value(v) for v in value]}}
    raise TypeError(f"cannot store a {type(value).__name__} in Firestore")


def from_firestore_value(value: dict[str, Any]) -> Any:
    """The inverse of firestore_value (timestamps stay ISO strings)."""
    (kind, inner), *_ = value.items()
    if kind == "integerValue":
        return int(inner)
    if kind == "mapValue":
        return {k: from_firestore_value(v) for k, v in inner.get("fields", {}).items()}
    if kind == "arrayValue":
        return [from_firestore_value(v) for v in inner.get("values", [])]
    return inner
