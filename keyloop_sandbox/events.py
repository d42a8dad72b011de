"""Keyloop's Event Subscription, played by the sandbox: CloudEvents posted to subscribers.

Every change to an appointment (booked or cancelled through the API, moved, cancelled or
completed by the dealer through the control API) is a "notification" event: ids and metadata
only, the subscriber reads the repair order back. Posted in structured mode
(`application/cloudevents+json`) with the subscription's secret in `x-api-key`.

Delivery switches (`POST /_sandbox/events`), as Keyloop's real delivery is said to behave:
- `delayMs`: wait this long before each delivery;
- `duplicate`: deliver every event twice;
- `drop`: the next N events are never delivered (as after Keyloop's retries run out);
- `hold`: keep events back until `POST /_sandbox/events/release`, which sends them newest
  first (out of order) or in order.
A delivery answered other than 2xx, or not at all, is retried twice (0.2 s, then 0.5 s later),
then given up. Every attempt is in the log (`GET /_sandbox/events`), without the secret.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .subscription import Subscription
from .times import wire_utc

EVENT_TYPE_PREFIX = "com.keyloop.dms.repairorder."
_RETRY_DELAYS = (0.2, 0.5)
_POST_TIMEOUT = 10.0
_MAX_LOG = 2000


@dataclass
class DeliverySettings:
    delay_ms: float = 0.0
    duplicate: bool = False
    drop: int = 0
    hold: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "delayMs": self.delay_ms,
            "duplicate": self.duplicate,
            "drop": self.drop,
            "hold": self.hold,
        }


def cloud_event(
    change: str, repair_order_id: str, enterprise_id: str, store_id: str, by_dealer: bool
) -> dict[str, Any]:
    """A notification CloudEvent (specversion 1.0) about one repair order."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"urn:keyloop:dms:{enterprise_id}:{store_id}",
        "type": f"{EVENT_TYPE_PREFIX}{change}",
        "subject": repair_order_id,
        "time": wire_utc(datetime.now(UTC)),
        "datacontenttype": "application/json",
        "data": {
            "repairOrderId": repair_order_id,
            "context": {
                "enterpriseId": enterprise_id,
                "storeId": store_id,
                "provider": "SANDBOX",
                "dealerCode": store_id,
            },
            "origin": {
                "id": repair_order_id,
                "application": "DMS" if by_dealer else "APPOINTMENT_API",
            },
        },
    }


class EventHub:
    """Subscriptions, delivery switches, held events and the delivery log. Thread-safe;
    posting happens on threads of its own, never under the lock."""

    def __init__(self, subscriptions: tuple[Subscription, ...] = ()) -> None:
        self._initial = subscriptions
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = list(subscriptions)
        self._settings = DeliverySettings()
        self._held: list[tuple[Subscription, dict[str, Any]]] = []
        self._log: list[dict[str, Any]] = []
        self._generation = 0  # a reset makes in-flight deliveries of before stop logging

    def reset(self) -> None:
        with self._lock:
            self._subscriptions = list(self._initial)
            self._settings = DeliverySettings()
            self._held = []
            self._log = []
            self._generation += 1

    # -- control ---------------------------------------------------------------------------

    def subscribe(self, subscription: Subscription) -> list[dict[str, Any]]:
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if s.url != subscription.url]
            self._subscriptions.append(subscription)
            return [s.to_json() for s in self._subscriptions]

    def unsubscribe_all(self) -> None:
        with self._lock:
            self._subscriptions = []

    def subscriptions_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [s.to_json() for s in self._subscriptions]

    def configure(self, **changes: Any) -> dict[str, Any]:
        with self._lock:
            for name, value in changes.items():
                if value is not None:
                    setattr(self._settings, name, value)
            return self._settings.to_json()

    def state_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "settings": self._settings.to_json(),
                "held": len(self._held),
                "deliveries": list(self._log),
            }

    def release(self, newest_first: bool = True) -> int:
        with self._lock:
            held, self._held = self._held, []
            delay = self._settings.delay_ms / 1000
        if newest_first:
            held.reverse()
        # One after another, on one thread: the order chosen is the order they arrive in.
        threading.Thread(target=self._post_all, args=(held, delay), daemon=True).start()
        return len(held)

    # -- publishing ------------------------------------------------------------------------

    def publish(
        self, change: str, repair_order_id: str, enterprise_id: str, store_id: str, by_dealer: bool
    ) -> None:
        """Send an event about a change to every subscriber of that store (non-blocking)."""
        event = cloud_event(change, repair_order_id, enterprise_id, store_id, by_dealer)
        with self._lock:
            targets = [s for s in self._subscriptions if s.covers(enterprise_id, store_id)]
            settings = self._settings
            if not targets:
                return
            if settings.drop > 0:
                settings.drop -= 1
                for sub in targets:
                    self._record(sub, event, "dropped", 0)
                return
            copies = 2 if settings.duplicate else 1
            batch = [(sub, event) for sub in targets for _ in range(copies)]
            if settings.hold:
                self._held.extend(batch)
                for sub, _ in batch:
                    self._record(sub, event, "held", 0)
                return
            delay = settings.delay_ms / 1000
        threading.Thread(target=self._post_all, args=(batch, delay), daemon=True).start()

    def _post_all(self, batch: list[tuple[Subscription, dict[str, Any]]], delay: float) -> None:
        with self._lock:
            generation = self._generation
        for sub, event in batch:
            if delay > 0:
                time.sleep(delay)
            self._deliver(sub, event, generation)

    def _deliver(self, sub: Subscription, event: dict[str, Any], generation: int) -> None:
        body = json.dumps(event).encode()
        for attempt in range(1, len(_RETRY_DELAYS) + 2):
            status: int | str
            request = urllib.request.Request(  # noqa: S310 (a URL the test or dev set)
                sub.url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/cloudevents+json", "x-api-key": sub.secret},
            )
            try:
                with urllib.request.urlopen(request, timeout=_POST_TIMEOUT) as answer:  # noqa: S310
                    status = int(answer.status)
            except urllib.error.HTTPError as exc:
                status = int(exc.code)
            except (OSError, ValueError):
                status = "unreachable"
            with self._lock:
                if generation != self._generation:
                    return
                self._record(sub, event, status, attempt)
            if isinstance(status, int) and 200 <= status < 300:
                return
            if attempt <= len(_RETRY_DELAYS):
                time.sleep(_RETRY_DELAYS[attempt - 1])

    def _record(self, sub: Subscription, event: dict[str, Any], outcome: Any, attempt: int) -> None:
        """Caller holds the lock."""
        self._log.append(
            {
                "eventId": event["id"],
                "type": event["type"],
                "repairOrderId": event["data"]["repairOrderId"],
                "url": sub.url,
                "attempt": attempt,
                "outcome": outcome,
                "at": wire_utc(datetime.now(UTC)),
            }
        )
        del self._log[:-_MAX_LOG]
