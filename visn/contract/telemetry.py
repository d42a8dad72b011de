"""One structured log line per callable invocation, for on-call people and dashboards, and
one per Keyloop call (wherever it runs).

The invocation's line carries the callable, its outcome and reason, the ids involved
(supplier, enquiry, operation), counts (the availability cache's hits and misses), the Keyloop
correlation ids with Keyloop's share of the time, and the total time. Never a name, an email,
a phone number, a token or a secret: only ids, codes, counts and times.
"""

from __future__ import annotations

import contextvars
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from firebase_functions import logger

from keyloop import CallRecord


@dataclass
class _Invocation:
    callable: str
    started: float = field(default_factory=time.monotonic)
    ids: dict[str, str] = field(default_factory=dict)
    keyloop: list[CallRecord] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_current: contextvars.ContextVar[_Invocation | None] = contextvars.ContextVar(
    "visn_invocation", default=None
)


@contextmanager
def invocation(name: str) -> Iterator[None]:
    token = _current.set(_Invocation(name))
    try:
        yield
    finally:
        _current.reset(token)


def annotate(**ids: str | None) -> None:
    """Add ids (supplierId, enquiryId, operationId) to the current invocation's line."""
    current = _current.get()
    if current is not None:
        current.ids.update({k: v for k, v in ids.items() if v})


def count(**amounts: int) -> None:
    """Add to counters on the current invocation's line (the availability cache's cacheHits
    and cacheMisses, for the dashboard's hit rate). Worker threads share the invocation."""
    current = _current.get()
    if current is None:
        return
    with current.lock:
        for key, amount in amounts.items():
            current.counts[key] = current.counts.get(key, 0) + amount


# One line per Keyloop call, wherever it runs (callables, reconciler, sync, events): the
# dashboard's Keyloop latency and error rate by operation (ops/metrics/visn_keyloop_call_ms).
KEYLOOP_CALL_MESSAGE = "keyloop call finished"

# A stable message an alert can match (ops/, docs/operations.md): Keyloop refused our client
# credentials (token 400/401/403) or our app's entitlement to the API (401 "no API product").
# Logged wherever a Keyloop call runs, the callables and the reconciler alike.
CREDENTIALS_REFUSED_MESSAGE = "KEYLOOP_CREDENTIALS_REFUSED: Keyloop refused our client or app"
_REFUSALS = frozenset({"KeyloopAuthenticationError", "KeyloopNotEntitledError"})


def record_keyloop_call(call: CallRecord) -> None:
    """The Keyloop client's observer. Worker threads run inside a copy of the caller's
    context (see availability), so their calls land on the same invocation."""
    current = _current.get()
    if current is not None:
        current.keyloop.append(call)
    logger.info(
        KEYLOOP_CALL_MESSAGE,
        operation=call.operation,
        status=call.status,
        outcome=call.outcome,
        ms=round(call.elapsed_ms, 1),
        correlationId=call.correlation_id,
    )
    # Once per refusal: a call whose token was refused failed too, but Keyloop never saw it.
    if call.outcome in _REFUSALS and call.status is not None:
        logger.error(
            CREDENTIALS_REFUSED_MESSAGE,
            operation=call.operation,
            status=call.status,
            error=call.outcome,
            correlationId=call.correlation_id,
        )


def finish(outcome: str, reason: str | None) -> None:
    current = _current.get()
    if current is None:
        return
    calls = current.keyloop
    logger.info(
        "callable finished",
        callable=current.callable,
        outcome=outcome,
        reason=reason,
        **current.ids,
        **current.counts,
        keyloopCalls=[
            {
                "operation": c.operation,
                "status": c.status,
                "outcome": c.outcome,
                "ms": round(c.elapsed_ms, 1),
                "correlationId": c.correlation_id,
            }
            for c in calls
        ],
        keyloopMs=round(sum(c.elapsed_ms for c in calls if c.operation != "token"), 1),
        tokenMs=round(sum(c.elapsed_ms for c in calls if c.operation == "token"), 1),
        totalMs=round((time.monotonic() - current.started) * 1000, 1),
    )


def stack_of(exc: BaseException) -> str:
    """An exception's stack trace for the log, without its messages: file, line, function and
    source line of each frame, and the exception types (causes too). A message may carry
    request data or personal details (a Firestore or Keyloop error quoting a document or a
    body); the frames carry code only."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append("".join(traceback.format_tb(current.__traceback__)))
        parts.append(f"{type(current).__module__}.{type(current).__qualname__}\n")
        current = current.__cause__ or current.__context__
        if current is not None:
            parts.append("caused by:\n")
    return "".join(parts)
