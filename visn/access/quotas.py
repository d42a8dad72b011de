"""Quotas: how much one user or one fleet customer may ask of Keyloop, checked before we ask.

- Bookings (createBooking + rearrangeBooking) per user and per customer per clock hour:
  counters shared by every instance, in Firestore (`liveDiary_rateLimits`), on the booking
  path, which talks to Firestore anyway.
- Cancels (cancelBooking) likewise, on counters of their own; and on a CANCELLING enquiry at
  most one Keyloop attempt per CANCEL_RETRY_SPACING (`cancel_retry_due`).
- Keyloop day-fetches of getAvailability per user per minute: counted in this process's
  memory, so the warm availability path makes no Firestore call for it (docs/decisions.md).

A refusal is RESOURCE_EXHAUSTED, reason RATE_LIMITED, with `details.retryAfterSeconds`: when
the window that is full ends. Windows are fixed (clock hour, clock minute): a refused caller
knows exactly when to come back, and a counter is one document per window.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from firebase_functions.https_fn import HttpsError
from google.api_core import exceptions as gexc

from visn.contract.caller import Caller
from visn.contract.errors import Reason, booking_error
from visn.infra import clock, db, settings
from visn.records.namespace import RATE_LIMITS

if TYPE_CHECKING:
    from google.cloud.firestore import Client, DocumentReference

COLLECTION = RATE_LIMITS
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
# Counter documents carry `expireAt` for a Firestore TTL policy (docs/deploy.md); a day is
# well past any window.
_KEEP = timedelta(days=1)


@dataclass(frozen=True)
class Window:
    """A fixed window of `length` containing `at`: its index and when it ends."""

    index: int
    ends: datetime

    @classmethod
    def containing(cls, at: datetime, length: timedelta) -> Window:
        seconds = length.total_seconds()
        index = math.floor(at.timestamp() / seconds)
        return cls(index, datetime.fromtimestamp((index + 1) * seconds, tz=at.tzinfo))

    def retry_after(self, now: datetime) -> int:
        return max(1, math.ceil((self.ends - now).total_seconds()))


def rate_limited(retry_after_seconds: int) -> HttpsError:
    return booking_error(Reason.RATE_LIMITED, retry_after_seconds=retry_after_seconds)


# -- bookings: shared counters in Firestore --------------------------------------------------


def charge_booking(client: Client, caller: Caller) -> None:
    """Count one booking call for the user and the customer, or refuse it if either is full.

    No transaction: one customer's users book at once, and transactions on one counter
    would contend (abort and retry). Instead each call adds itself to both counters with an
    atomic increment in one batch, whose commit answers the counts after it (Firestore's
    `WriteResult.transform_results`); a call that finds a count past its limit takes itself
    off again and is refused. Never more than the limit pass (a passing call's count includes
    its own increment and every earlier one); in a burst at the boundary a call may be refused
    that a strict queue would have let in. One round trip, two when refused.
    """
    _charge(
        client,
        caller,
        "booking",
        settings.QUOTA_BOOKINGS_PER_USER_PER_HOUR.value,
        settings.QUOTA_BOOKINGS_PER_CUSTOMER_PER_HOUR.value,
    )


def charge_cancel(client: Client, caller: Caller) -> None:
    """Count one cancelBooking call, as `charge_booking` does, against the cancel quotas."""
    _charge(
        client,
        caller,
        "cancel",
        settings.QUOTA_CANCELS_PER_USER_PER_HOUR.value,
        settings.QUOTA_CANCELS_PER_CUSTOMER_PER_HOUR.value,
    )


def _charge(client: Client, caller: Caller, kind: str, per_user: int, per_customer: int) -> None:
    from google.cloud.firestore import Increment

    now = clock.now()
    window = Window.containing(now, HOUR)
    refs = [
        _counter(client, f"{kind}-user", caller.uid, window),
        _counter(client, f"{kind}-customer", caller.customer_id, window),
    ]
    limits = [max(0, per_user), max(0, per_customer)]
    options = _once()
    counts = _add(client, refs, Increment(1), window, options)
    if all(count <= limit for count, limit in zip(counts, limits, strict=True)):
        return
    _add(client, refs, Increment(-1), window, options)
    raise rate_limited(window.retry_after(now))


def _once() -> dict[str, Any]:
    """Firestore call options without the retry: an increment is not idempotent, and a
    commit applied whose answer was lost (UNAVAILABLE, a deadline) would count twice when
    retried. Not retried, the call fails and counts once; the caller's retry is a new call."""
    return {**db.call_options(), "retry": None}


def _add(
    client: Client, refs: list[DocumentReference], by: Any, window: Window, options: Any
) -> list[int]:
    """Add `by` to each counter; the counts after, in the order of `refs`."""
    batch = client.batch()
    for ref in refs:
        batch.set(ref, {"count": by, "expireAt": window.ends + _KEEP}, merge=True)
    results = batch.commit(**options)
    return [int(result.transform_results[0].integer_value) for result in results]


def _counter(client: Client, scope: str, key: str, window: Window) -> DocumentReference:
    # Hashed: a uid or customer id may hold characters a document id cannot, and the ids
    # need not be readable here (the counter is only ever looked up by them).
    digest = hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()[:32]
    return client.collection(COLLECTION).document(f"{scope}-{digest}-{window.index}")


# -- availability: per-instance counters in memory --------------------------------------------


class _MinuteCounters:
    """Day-fetches per user in the current minute, in this process. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}

    def charge(self, uid: str, days: int, limit: int, now: datetime) -> int | None:
        """Count `days` for `uid`; or, if that would pass `limit`, the seconds to wait."""
        window = Window.containing(now, MINUTE)
        with self._lock:
            if window.index != self._window:
                # A new minute: last minute's counts are of no more use (bounded memory).
                self._window, self._counts = window.index, {}
            used = self._counts.get(uid, 0)
            if used + days > limit:
                return window.retry_after(now)
            self._counts[uid] = used + days
            return None

    def clear(self) -> None:
        with self._lock:
            self._window, self._counts = -1, {}


availability_counters = _MinuteCounters()


def charge_availability(caller: Caller, days: int) -> None:
    """Count a view of `days` days (one Keyloop call each) for the user, or refuse it."""
    limit = max(0, settings.QUOTA_AVAILABILITY_DAYS_PER_USER_PER_MINUTE.value)
    wait = availability_counters.charge(caller.uid, days, limit, clock.now())
    if wait is not None:
        raise rate_limited(wait)


# -- cancels on a CANCELLING enquiry: at most one Keyloop attempt per spacing ----------------

# A cancel that Keyloop did not confirm stays owed (CANCELLING); each call on it would send
# the client's up to 3 DELETEs, exactly while Keyloop is failing. Callers within this of the
# last attempt are answered CANCELLING at once (the reconciler carries the cancel out anyway).
CANCEL_RETRY_SPACING = timedelta(seconds=30)


def cancel_retry_due(client: Client, record: DocumentReference) -> bool:
    """Whether a call on a CANCELLING enquiry may ask Keyloop again now, given its owed
    cancel `record`: not within CANCEL_RETRY_SPACING of the last attempt (the record's
    `updatedAt`, moved by the call that recorded the intent and by every reconciler attempt).
    It claims the attempt as the reconciler does, on the version read: of two calls at once,
    one asks Keyloop. A record not pending, or Firestore failing, does not hold a call back
    (the quota still bounds it)."""
    try:
        snapshot = record.get(**db.call_options())
        data = snapshot.to_dict() if snapshot.exists else None
        if data is None or data.get("status") != "PENDING":
            return True
        now = clock.now()
        last = data.get("updatedAt")
        if isinstance(last, datetime) and now - last < CANCEL_RETRY_SPACING:
            return False
        fields: dict[str, Any] = {"updatedAt": now}
        due = data.get("nextAttemptAt")
        if not isinstance(due, datetime) or due < now + CANCEL_RETRY_SPACING:
            fields["nextAttemptAt"] = now + CANCEL_RETRY_SPACING  # the reconciler waits too
        record.update(
            fields, option=client.write_option(last_update_time=snapshot.update_time), **_once()
        )
    except (gexc.FailedPrecondition, gexc.NotFound):
        return False  # another call or the reconciler claimed it just now
    except (gexc.GoogleAPIError, gexc.RetryError):
        return True
    return True
