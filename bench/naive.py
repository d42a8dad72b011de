"""The flow we replace: a token before every Keyloop call, and days fetched one by one.

Plain `requests` calls as such integrations are usually written: no cached token, no
connection pool, no concurrency. Only the Keyloop side is reproduced; the counts and timings
it gives are what the booking path would cost on top of everything else if it worked so.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import requests

from .plan import Plan, appointments_url, token_url
from .stack import CLIENT_ID, CLIENT_SECRET

TIMEOUT = 10.0


class NaiveFlow:
    def __init__(self, base_url: str, plan: Plan) -> None:
        self._base_url = base_url
        self._plan = plan

    def availability(self, first: date, days: int) -> list[Any]:
        """One day after another, each with its own token."""
        return [
            self._call("POST", "/availability", self._plan.keyloop_availability(day))
            for day in (first + timedelta(days=i) for i in range(days))
        ]

    def create(self, hour: int = 10) -> str:
        created = self._call("POST", "", self._plan.keyloop_appointment(hour))
        return str(created["appointmentId"])

    def cancel(self, appointment_id: str) -> None:
        self._call("DELETE", f"/{appointment_id}", None)

    def rearrange(self, appointment_id: str, hour: int = 11) -> str:
        new_id = self.create(hour)
        self.cancel(appointment_id)
        return new_id

    def _token(self) -> str:
        response = requests.post(
            token_url(self._base_url),
            data={"grant_type": "client_credentials"},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=TIMEOUT,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        headers = {"Authorization": f"Bearer {self._token()}"}
        response = requests.request(
            method,
            appointments_url(self._base_url) + path,
            json=body,
            headers=headers,
            timeout=TIMEOUT,
        )
        response.raise_for_status()
        return response.json() if response.content else None
