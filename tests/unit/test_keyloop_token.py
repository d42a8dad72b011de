"""Token: Apigee's string values, caching, refresh ahead of expiry, single flight."""

from __future__ import annotations

import base64
import threading
import time
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from keyloop import (
    KeyloopAuthenticationError,
    KeyloopBadResponseError,
    KeyloopClient,
    KeyloopSettings,
    SecretManagerCredentials,
    StaticCredentials,
)
from keyloop.token import AccessToken, TokenCache
from tests.unit.support import (
    APPTS,
    SECRET,
    STORE,
    TOKEN,
    TOKEN_URL,
    FakeClock,
    bearer_of,
    sent,
    token_body,
)

DAY = date(2027, 1, 12)
PRODUCTS = ["svc-1"]


def _availability_ok(rsps: responses.RequestsMock) -> None:
    rsps.post(f"{APPTS}/availability", json={"availableSlots": []})


def test_token_request_shape_and_string_expiry(
    rsps: responses.RequestsMock, client: KeyloopClient
) -> None:
    rsps.post(TOKEN_URL, json=token_body(expires_in="3599"))
    _availability_ok(rsps)

    client.availability(STORE, DAY, PRODUCTS)
    client.availability(STORE, DAY, PRODUCTS)

    token_calls = sent(rsps, "/oauth/")
    assert len(token_calls) == 1
    req = token_calls[0]
    assert parse_qs(urlsplit(str(req.url)).query) == {"grant_type": ["client_credentials"]}
    assert parse_qs(str(req.body)) == {
        "grant_type": ["client_credentials"],
        "client_id": ["client-1"],
        "client_secret": [SECRET],
    }
    expected = base64.b64encode(f"client-1:{SECRET}".encode()).decode()
    assert req.headers["Authorization"] == f"Basic {expected}"
    assert [bearer_of(r) for r in sent(rsps, "/availability")] == [TOKEN, TOKEN]


@pytest.mark.parametrize("token_type", ["BearerToken", "Bearer", "bearer"])
def test_both_token_types_accepted(
    rsps: responses.RequestsMock, client: KeyloopClient, token_type: str
) -> None:
    rsps.post(TOKEN_URL, json=token_body(token_type=token_type))
    _availability_ok(rsps)
    assert client.availability(STORE, DAY, PRODUCTS) == []


@pytest.mark.parametrize(
    "body",
    [
        token_body(token_type="MAC"),
        token_body(expires_in="soon"),
        token_body(expires_in="0"),
        {**token_body(), "access_token": ""},
        ["not", "an", "object"],
    ],
)
def test_malformed_token_response_is_bad_response(
    rsps: responses.RequestsMock, client: KeyloopClient, body: object
) -> None:
    rsps.post(TOKEN_URL, json=body)
    with pytest.raises(KeyloopBadResponseError):
        client.availability(STORE, DAY, PRODUCTS)
    assert not sent(rsps, "/availability")


def test_refresh_ahead_of_expiry(
    rsps: responses.RequestsMock, client: KeyloopClient, clock: FakeClock
) -> None:
    rsps.post(TOKEN_URL, json=token_body("tok-first-AAAAAAAAAAAAAAAAAA", expires_in="600"))
    rsps.post(TOKEN_URL, json=token_body("tok-second-AAAAAAAAAAAAAAAAA", expires_in="600"))
    _availability_ok(rsps)

    client.availability(STORE, DAY, PRODUCTS)
    clock.now += 600 - 61  # still outside the 60 s margin: cached
    client.availability(STORE, DAY, PRODUCTS)
    clock.now += 2  # inside the margin, still valid: refreshed before it expires
    client.availability(STORE, DAY, PRODUCTS)

    assert len(sent(rsps, "/oauth/")) == 2
    assert bearer_of(sent(rsps, "/availability")[-1]) == "tok-second-AAAAAAAAAAAAAAAAA"


def test_failed_refresh_ahead_keeps_the_valid_token(
    rsps: responses.RequestsMock, client: KeyloopClient, clock: FakeClock, sleeps: list[float]
) -> None:
    rsps.post(TOKEN_URL, json=token_body(expires_in="600"))
    _availability_ok(rsps)
    client.availability(STORE, DAY, PRODUCTS)
    rsps.replace(responses.POST, TOKEN_URL, status=503, json={})
    clock.now += 560  # in the margin: a refresh is tried and fails
    client.availability(STORE, DAY, PRODUCTS)  # ...and the still-valid token is used
    assert bearer_of(sent(rsps, "/availability")[-1]) == TOKEN


def test_expired_token_is_never_sent(
    rsps: responses.RequestsMock, client: KeyloopClient, clock: FakeClock
) -> None:
    rsps.post(TOKEN_URL, json=token_body("tok-old-AAAAAAAAAAAAAAAAAAAA", expires_in="100"))
    rsps.post(TOKEN_URL, json=token_body("tok-new-AAAAAAAAAAAAAAAAAAAA", expires_in="100"))
    _availability_ok(rsps)
    client.availability(STORE, DAY, PRODUCTS)
    clock.now += 100
    client.availability(STORE, DAY, PRODUCTS)
    assert bearer_of(sent(rsps, "/availability")[-1]) == "tok-new-AAAAAAAAAAAAAAAAAAAA"


def test_single_flight_many_threads_one_fetch() -> None:
    calls: list[int] = []
    release = threading.Event()

    def slow_fetch() -> AccessToken:
        calls.append(1)
        release.wait(5)
        return AccessToken("tok", lifetime=3600, obtained_at=time.monotonic())

    cache = TokenCache(slow_fetch, refresh_margin=60)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get())) for _ in range(30)]
    for t in threads:
        t.start()
    time.sleep(0.1)  # let every thread reach the cache while the fetch is in flight
    release.set()
    for t in threads:
        t.join(5)
    assert len(calls) == 1
    assert results == ["tok"] * 30


def test_invalidate_keeps_a_newer_token() -> None:
    values = iter(["a", "b"])
    cache = TokenCache(lambda: AccessToken(next(values), 3600, time.monotonic()), refresh_margin=60)
    assert cache.get() == "a"
    cache.invalidate("a")
    assert cache.get() == "b"
    cache.invalidate("a")  # a late 401 for the old token must not drop the new one
    assert cache.get() == "b"


def test_rejected_client_is_authentication_error_without_secret(
    rsps: responses.RequestsMock, client: KeyloopClient
) -> None:
    rsps.post(
        TOKEN_URL,
        status=401,
        json={"ErrorCode": "invalid_request", "Error": "Invalid client id : client-1."},
    )
    with pytest.raises(KeyloopAuthenticationError) as info:
        client.availability(STORE, DAY, PRODUCTS)
    assert info.value.status == 401
    assert info.value.fault_code == "invalid_request"
    assert SECRET not in str(info.value)
    assert len(rsps.calls) == 1  # static credentials: nothing to re-read, no second try


def test_secret_manager_credentials_reread_after_rejection(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    payloads = iter(
        [
            b'{"clientId": "client-1", "clientSecret": "old-secret"}',
            b'{"clientId": "client-1", "clientSecret": "rotated-secret"}',
        ]
    )
    reads: list[str] = []

    def accessor(name: str) -> bytes:
        reads.append(name)
        return next(payloads)

    creds = SecretManagerCredentials("keyloop-creds", project="demo-p", accessor=accessor)
    client = KeyloopClient(KeyloopSettings("https://keyloop.test"), creds, clock=clock)
    rsps.post(TOKEN_URL, status=401, json={"ErrorCode": "invalid_client", "Error": "bad"})
    rsps.post(TOKEN_URL, json=token_body())
    _availability_ok(rsps)

    client.availability(STORE, DAY, PRODUCTS)

    assert reads == ["projects/demo-p/secrets/keyloop-creds/versions/latest"] * 2
    auths = [str(r.headers["Authorization"]) for r in sent(rsps, "/oauth/")]
    decoded = [base64.b64decode(a.split()[1]).decode() for a in auths]
    assert decoded == ["client-1:old-secret", "client-1:rotated-secret"]


def test_secret_manager_credentials_cached() -> None:
    reads: list[str] = []

    def accessor(name: str) -> bytes:
        reads.append(name)
        return b'{"client_id": "c", "client_secret": "s"}'

    creds = SecretManagerCredentials("projects/p/secrets/x", accessor=accessor)
    assert creds.get().client_id == "c"
    assert creds.get().client_secret == "s"
    assert reads == ["projects/p/secrets/x/versions/latest"]


def test_static_credentials_repr_hides_secret() -> None:
    assert SECRET not in repr(StaticCredentials("client-1", SECRET).get())
