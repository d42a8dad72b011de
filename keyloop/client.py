"""The Keyloop client: token, availability, create and cancel for one Keyloop tenant.

Thread-safe: one instance per process serves every request; it holds one connection pool
and one token.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import requests
from urllib3.util.retry import Retry

from . import faults
from .availability import AvailabilityShapeError, parse_availability
from .config import KeyloopSettings
from .credentials import ClientCredentials, CredentialsProvider
from .errors import (
    KeyloopBadResponseError,
    KeyloopCredentialsUnavailableError,
    KeyloopError,
    KeyloopIndeterminateError,
    KeyloopInvalidRequestError,
    KeyloopUnavailableError,
)
from .models import Appointment, NewAppointment, RepairOrder, Slot, Store
from .repair_orders import RepairOrderShapeError, parse_repair_order
from .token import AccessToken, TokenCache
from .transport import create_policy, idempotent_policy, new_session, retry_policy
from .wire import ID_PATTERN, create_body, json_body, optional_time, parse_token, path_segment

_log = logging.getLogger("keyloop")

TOKEN_PATH = "/oauth/client_credential/accesstoken"  # noqa: S105 (a path, not a secret)
_MAX_LOGGED_BODY = 2000


@dataclass(frozen=True)
class CallRecord:
    """What one logical call did, for the caller's logs and metrics (no payloads)."""

    operation: str
    correlation_id: str
    status: int | None
    elapsed_ms: float
    outcome: str  # "ok" or the error class name


CallObserver = Callable[[CallRecord], None]


class KeyloopClient:
    def __init__(
        self,
        settings: KeyloopSettings,
        credentials: CredentialsProvider,
        *,
        observer: CallObserver | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
        self._observer = observer
        self._session = session or new_session(settings)
        self._clock = clock
        limit = settings.max_concurrent_calls
        self._in_flight = threading.BoundedSemaphore(limit) if limit is not None else None
        self._timeout = (settings.connect_timeout, settings.read_timeout)
        self._idempotent = idempotent_policy(settings)
        self._create = create_policy(settings)
        self._tokens = TokenCache(
            self._fetch_token, refresh_margin=settings.token_refresh_margin, clock=clock
        )

    def close(self) -> None:
        self._session.close()

    # -- operations ---------------------------------------------------------------------------

    def availability(
        self,
        store: Store,
        day: date,
        service_product_ids: Sequence[str],
        appointment_option_id: str | None = None,
    ) -> list[Slot]:
        """Free slots of one store on one date, in Keyloop's order."""
        if not service_product_ids:
            raise KeyloopInvalidRequestError("at least one service product is needed")
        body: dict[str, Any] = {
            "enterpriseId": store.enterprise_id,
            "storeId": store.store_id,
            "date": day.isoformat(),
            "serviceProducts": [{"serviceProductId": path_segment(p)} for p in service_product_ids],
        }
        if appointment_option_id is not None:
            body["bookingOption"] = {"appointmentOptionId": path_segment(appointment_option_id)}
        url = f"{self._appointments_url(store)}/availability"
        response, cid = self._api_call("availability", "POST", url, body, self._idempotent)
        payload = json_body(response, "availability", cid)
        try:
            return parse_availability(payload, store.local_time_zone)
        except AvailabilityShapeError as exc:
            _log.warning(
                "keyloop availability response not understood: %s; body=%.*s",
                exc,
                _MAX_LOGGED_BODY,
                response.text,
            )
            raise KeyloopBadResponseError(
                "availability response not understood",
                status=response.status_code,
                correlation_id=cid,
            ) from None

    def create_appointment(self, store: Store, request: NewAppointment) -> Appointment:
        """Book; raises KeyloopIndeterminateError when the outcome cannot be known."""
        body = create_body(store, request)
        url = self._appointments_url(store)
        response, cid = self._api_call("create", "POST", url, body, self._create)
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        payload: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        appointment_id = payload.get("appointmentId")
        if not isinstance(appointment_id, str) or not ID_PATTERN.fullmatch(appointment_id):
            # A 2xx says it booked, but not which appointment (empty, HTML, no id): as good
            # as an unknown outcome. Never "not booked": a retry could book twice.
            raise KeyloopIndeterminateError(
                "create answered 2xx without a usable appointmentId",
                status=response.status_code,
                correlation_id=cid,
            )
        raw_details = payload.get("details")
        details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
        reference = details.get("appointmentReference")
        return Appointment(
            appointment_id=appointment_id,
            reference=reference if isinstance(reference, str) and reference else None,
            due_in=optional_time(details.get("dueInDateTime"), store),
            due_out=optional_time(details.get("dueOutDateTime"), store),
        )

    def cancel_appointment(self, store: Store, appointment_id: str) -> None:
        """Cancel; an appointment the API says is gone (its own 404) counts as cancelled.

        A gateway fault 404 (wrong path or store ids) is an error: the appointment may live.
        """
        url = f"{self._appointments_url(store)}/{path_segment(appointment_id)}"
        self._api_call(
            "cancel", "DELETE", url, None, self._idempotent, accept=faults.is_resource_gone
        )

    def get_repair_order(self, store: Store, repair_order_id: str) -> RepairOrder | None:
        """A booked appointment read back as a repair order (same id); None when the API
        itself says there is no such repair order (its own 404, not a gateway fault)."""
        url = (
            f"{self._settings.base_url}/{path_segment(store.enterprise_id)}/{path_segment(store.store_id)}"
            f"/v1/repair-orders/{path_segment(repair_order_id)}"
        )
        # Only the API's own 404 says the repair order is gone (faults.is_resource_gone): a
        # gateway fault 404 (e.g. ApplicationNotFound) says nothing about it and is an error.
        response, cid = self._api_call(
            "repairOrder", "GET", url, None, self._idempotent, accept=faults.is_resource_gone
        )
        if response.status_code == 404:
            return None
        payload = json_body(response, "repairOrder", cid)
        try:
            return parse_repair_order(payload, store.local_time_zone)
        except RepairOrderShapeError as exc:
            # Not the body: a repair order carries the customer's details.
            _log.warning("keyloop repair order response not understood: %s", exc)
            raise KeyloopBadResponseError(
                "repair order response not understood",
                status=response.status_code,
                correlation_id=cid,
            ) from None

    # -- plumbing -----------------------------------------------------------------------------

    def _appointments_url(self, store: Store) -> str:
        return (
            f"{self._settings.base_url}/appointment/{path_segment(store.enterprise_id)}"
            f"/{path_segment(store.store_id)}/v1/appointments"
        )

    def _api_call(
        self,
        operation: str,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        policy: Retry,
        accept: Callable[[requests.Response], bool] | None = None,
    ) -> tuple[requests.Response, str]:
        """One logical call: bearer token, one refresh-and-retry on a token 401, error mapping.

        The correlation id is the same on every retry of the call, like an idempotency key.
        """
        cid = str(uuid.uuid4())
        started = self._clock()
        status: int | None = None
        try:
            for attempt in (1, 2):
                token = self._tokens.get()
                headers = {"Authorization": f"Bearer {token}", "correlation-id": cid}
                response = self._send(operation, method, url, body, headers, policy, cid)
                status = response.status_code
                if status == 401 and attempt == 1 and faults.is_token_fault(response):
                    self._tokens.invalidate(token)
                    continue
                if response.ok or (accept is not None and accept(response)):
                    self._observe(operation, cid, status, started, "ok")
                    return response, cid
                raise faults.error_for_response(operation, response, cid)
            raise AssertionError("unreachable")  # pragma: no cover
        except Exception as exc:
            self._observe(operation, cid, status, started, type(exc).__name__)
            raise

    def _send(
        self,
        operation: str,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        headers: dict[str, str],
        policy: Retry,
        cid: str,
        **kwargs: Any,
    ) -> requests.Response:
        # Prepared here and sent by the session's adapter (its pool and our retry policy):
        # Session.request/send would merge environment and per-call settings, keep cookies and
        # follow redirects, none of which a Keyloop call uses (trust_env is off; a redirect is
        # not followed). About a fifth of a Keyloop call's CPU (docs/decisions.md, "CPU cut").
        prepared = requests.Request(
            method, url, headers={**self._session.headers, **headers}, json=body, **kwargs
        ).prepare()
        adapter = self._session.get_adapter(url)
        # Waiting for a free place is bounded like the call itself; nothing has been sent then.
        if self._in_flight is not None and not self._in_flight.acquire(timeout=self._timeout[1]):
            raise KeyloopUnavailableError(
                f"{operation}: too many Keyloop calls in flight", correlation_id=cid
            )
        try:
            with retry_policy(policy):
                response = adapter.send(prepared, timeout=self._timeout, verify=True, proxies={})
                response.content  # noqa: B018 (read now: the connection goes back to the pool)
                return response
        except requests.exceptions.RequestException as exc:
            raise faults.error_for_transport(operation, exc, cid) from None
        finally:
            if self._in_flight is not None:
                self._in_flight.release()

    def _fetch_token(self) -> AccessToken:
        cid = str(uuid.uuid4())
        started = self._clock()
        status: int | None = None
        try:
            for attempt in (1, 2):
                creds = self._get_credentials(cid)
                sent_at = self._clock()
                response = self._send(
                    "token",
                    "POST",
                    f"{self._settings.base_url}{TOKEN_PATH}?grant_type=client_credentials",
                    None,
                    {"correlation-id": cid},
                    self._idempotent,
                    cid,
                    # Both ways a tenant may be set up: Basic (ViSN's doc) and the form body
                    # (what Keyloop's own adapter sends). shared/keyloop-api.md, Token.
                    data={
                        "grant_type": "client_credentials",
                        "client_id": creds.client_id,
                        "client_secret": creds.client_secret,
                    },
                    auth=(creds.client_id, creds.client_secret),
                )
                status = response.status_code
                if status == 401 and attempt == 1 and self._credentials.refresh():
                    continue  # credentials may have rotated: read the secret again, once
                if not response.ok:
                    raise faults.error_for_token_response(response, cid)
                token = parse_token(response, cid, sent_at)
                self._observe("token", cid, status, started, "ok")
                return token
            raise AssertionError("unreachable")  # pragma: no cover
        except Exception as exc:
            self._observe("token", cid, status, started, type(exc).__name__)
            raise

    def _get_credentials(self, cid: str) -> ClientCredentials:
        """The client's credentials; a secret store that fails is an error of ours, with
        nothing sent to Keyloop (so a create that meets it has provably booked nothing)."""
        try:
            return self._credentials.get()
        except KeyloopError:
            raise
        except Exception as exc:
            raise KeyloopCredentialsUnavailableError(
                f"keyloop credentials could not be read ({type(exc).__name__})",
                correlation_id=cid,
            ) from None

    def _observe(self, operation: str, cid: str, status: int | None, t0: float, out: str) -> None:
        if self._observer is not None:
            elapsed = (self._clock() - t0) * 1000.0
            self._observer(CallRecord(operation, cid, status, elapsed, out))
