"""Shared values of the Keyloop client unit tests."""

from __future__ import annotations

from typing import Any

import responses
from requests import PreparedRequest

from keyloop import Store

BASE = "https://keyloop.test"
TOKEN_URL = f"{BASE}/oauth/client_credential/accesstoken"
STORE = Store("ENT-1", "STORE-1")
APPTS = f"{BASE}/appointment/ENT-1/STORE-1/v1/appointments"
SECRET = "s3cr3t-value-never-logged"
TOKEN = "tok-AAAAAAAAAAAAAAAAAAAAAAAA"


def token_body(
    value: str = TOKEN, expires_in: str = "3599", token_type: str = "BearerToken"
) -> Any:
    # Apigee's shape: every value a string.
    return {
        "token_type": token_type,
        "access_token": value,
        "expires_in": expires_in,
        "issued_at": "1755842804000",
        "status": "approved",
        "organization_name": "keyloop",
        "client_id": "client-1",
        "refresh_count": "0",
        "api_product_list_json": [],
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sent(rsps: responses.RequestsMock, fragment: str) -> list[PreparedRequest]:
    """The requests whose URL contains `fragment`, in order."""
    return [c.request for c in rsps.calls if fragment in str(c.request.url)]


def bearer_of(request: PreparedRequest) -> str:
    return str(request.headers["Authorization"]).removeprefix("Bearer ")
