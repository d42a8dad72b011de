"""`keyloopEvents`: Keyloop's CloudEvents, each only a hint to look again at a repair order.

Nothing in an event is trusted beyond "look at repair order X (in store E/S)": the truth is
read back from Keyloop, so a forged or replayed event can at most cause a read, and the
order events arrive in does not matter. Answers (docs/api.md, "Keyloop events"):

- 401 without the right `x-api-key` (checked before the body is read); 405 for anything but
  POST; 413 for a body over 256 KiB (never read past it); 400 for a body that is not a
  CloudEvent (structured mode: JSON with specversion 1.0, id, source and type; or binary
  mode: those as `ce-*` headers and a JSON body as the data);
- 204 for every well-formed event: applied, unchanged, ignored (no repair order id), not ours
  (no enquiry on that appointment: nothing is written), a duplicate (the event id was seen,
  `liveDiary_keyloopEventReceipts`), or a store mismatch (the event names a store other than
  the enquiry's, or two stores: nothing is read or written, a WARNING is logged);
- 503 when Keyloop or Firestore could not be asked, or the change lost every conditional
  write it tried (CONFLICT): the receipt is taken back, so Keyloop's redelivery is looked at
  afresh (and the polling sync catches what is never redelivered). A receipt is kept only
  when the change was applied or found already applied.

The store is read from `data.context {enterpriseId, storeId}` (Keyloop's subscriber API) or
from the CloudEvent extension attributes `enterpriseid` and `storeid` (top-level in structured
mode, `ce-enterpriseid`/`ce-storeid` headers in binary mode), as a Keyloop partner reads it;
the repair order from `data.repairOrderId` or `data.RepairOrderId`.

Applied in the request, not through a Cloud Tasks queue: docs/decisions.md says why.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from firebase_functions import logger
from google.api_core import exceptions as gexc

from keyloop import KeyloopError
from visn.infra import clock, db, settings
from visn.infra.clients import firestore_client
from visn.records.dms_view import look
from visn.records.store_record import store_from
from visn.sync.applying import Outcome, lookup, settle
from visn.sync.names import EVENT_RECEIPTS

API_KEY_HEADER = "x-api-key"
RECEIPT_TTL = timedelta(days=7)  # Keyloop's redeliveries are over well within this (assumed)
_JSON_TYPES = ("application/json", "application/cloudevents+json")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_MAX_BODY = 256 * 1024
MAX_BODY = _MAX_BODY  # what keyloopEvents reads of a body at most (visn/entry/api.py)


@dataclass(frozen=True)
class Answer:
    status: int
    outcome: str  # for the log line and the tests: what happened to the event


@dataclass(frozen=True)
class Notice:
    """What we take from a well-formed event: which repair order, where; nothing else."""

    event_id: str
    source: str
    type: str
    repair_order_id: str | None
    store: tuple[str, str] | None
    stores_disagree: bool = False  # data.context and the extension attributes name two stores


class NotACloudEventError(ValueError):
    pass


# The body, or a reader of it called only once the key is checked (None: over MAX_BODY).
Body = bytes | Callable[[], bytes | None]


def handle(method: str, headers: Any, body: Body, content_type: str | None) -> Answer:
    started = time.monotonic()
    answer, notice, enquiry_id = _handle(method, headers, body, content_type)
    logger.info(
        "keyloop event handled",
        status=answer.status,
        outcome=answer.outcome,
        eventId=notice.event_id if notice else None,
        eventType=notice.type if notice else None,
        repairOrderId=notice.repair_order_id if notice else None,
        enquiryId=enquiry_id,
        ms=round((time.monotonic() - started) * 1000, 1),
    )
    return answer


def _handle(
    method: str, headers: Any, body: Body, content_type: str | None
) -> tuple[Answer, Notice | None, str | None]:
    if method != "POST":
        return Answer(405, "METHOD_NOT_ALLOWED"), None, None
    if not _authorised(headers.get(API_KEY_HEADER)):
        return Answer(401, "UNAUTHORISED"), None, None
    read = body() if callable(body) else body
    if read is None:
        return Answer(413, "TOO_LARGE"), None, None
    try:
        notice = parse(read, content_type, headers)
    except NotACloudEventError:
        return Answer(400, "NOT_A_CLOUDEVENT"), None, None
    if notice.repair_order_id is None:
        return Answer(204, "IGNORED"), notice, None
    client = firestore_client()
    refused, snapshot = _ours(client, notice)
    if refused is not None:
        return refused, notice, None
    receipt = client.collection(EVENT_RECEIPTS).document(receipt_id(notice))
    try:
        receipt.create(
            {
                "eventId": notice.event_id,
                "type": notice.type,
                "repairOrderId": notice.repair_order_id,
                "receivedAt": clock.now(),
                "expireAt": clock.now() + RECEIPT_TTL,  # a TTL policy deletes it (deploy.md)
            },
            **db.call_options(),
        )
    except gexc.AlreadyExists:
        return Answer(204, "DUPLICATE"), notice, snapshot.id
    except (gexc.GoogleAPIError, gexc.RetryError) as exc:
        return Answer(503, f"RETRY_LATER:{type(exc).__name__}"), notice, snapshot.id
    try:
        dms = (snapshot.to_dict() or {}).get("dms") or {}
        store, order_id = store_from(dms), notice.repair_order_id
        outcome, _ = settle(client, snapshot, lambda: look(store, order_id), via="EVENT")
    except (KeyloopError, gexc.GoogleAPIError, gexc.RetryError) as exc:
        _take_back(receipt)
        return Answer(503, f"RETRY_LATER:{type(exc).__name__}"), notice, snapshot.id
    except Exception as exc:
        # A bug: Keyloop's redelivery must not read as a duplicate.
        _take_back(receipt)
        logger.error("keyloop event failed unexpectedly", error=type(exc).__name__)
        return Answer(500, "INTERNAL"), notice, snapshot.id
    if outcome is Outcome.CONFLICT:
        # Lost every write it tried: not applied, so not received either (Keyloop redelivers).
        _take_back(receipt)
        return Answer(503, "RETRY_LATER:CONFLICT"), notice, snapshot.id
    return Answer(204, outcome.value), notice, snapshot.id


def _ours(client: Any, notice: Notice) -> tuple[Answer | None, Any]:
    """Our enquiry on the event's repair order, or the answer when there is none to apply to.
    First whether it is ours at all: a dealer's DMS sends events for every repair order, and
    those not ours cost one query, no write."""
    assert notice.repair_order_id is not None  # noqa: S101 (the caller answered IGNORED)
    if notice.stores_disagree:
        _mismatch(notice)
        return Answer(204, "STORE_MISMATCH"), None
    try:
        found = lookup(client, notice.repair_order_id, notice.store)
    except (gexc.GoogleAPIError, gexc.RetryError) as exc:
        return Answer(503, f"RETRY_LATER:{type(exc).__name__}"), None
    if found.store_mismatch:
        _mismatch(notice)
        return Answer(204, "STORE_MISMATCH"), None
    if found.snapshot is None:
        return Answer(204, "NOT_OURS"), None
    return None, found.snapshot


def parse(body: bytes, content_type: str | None, headers: Any = None) -> Notice:
    """The notice in a CloudEvent, structured or binary mode; NotACloudEventError for
    anything else. Binary mode is told by a `ce-specversion` header (CloudEvents HTTP
    binding); its body, the event's data, must then be JSON."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in _JSON_TYPES or len(body) > _MAX_BODY:
        raise NotACloudEventError("not a JSON CloudEvent")
    binary = headers is not None and headers.get("ce-specversion") is not None
    try:
        decoded = json.loads(body) if body or not binary else None
    except (ValueError, RecursionError):
        raise NotACloudEventError("not JSON") from None
    if binary:
        event: Any = {
            key: headers.get(f"ce-{key}")
            for key in ("specversion", "id", "source", "type", "enterpriseid", "storeid")
        }
        event["data"] = decoded
    else:
        event = decoded
    if not isinstance(event, dict) or event.get("specversion") != "1.0":
        raise NotACloudEventError("not a CloudEvent 1.0")
    for key in ("id", "source", "type"):
        if not isinstance(event.get(key), str) or not event[key]:
            raise NotACloudEventError(f"no {key}")
    data = event.get("data")
    if not isinstance(data, dict):
        data = {}
    order_id = data.get("repairOrderId", data.get("RepairOrderId"))
    valid = isinstance(order_id, str) and _ID.fullmatch(order_id) is not None
    named = {
        store
        for store in (
            _store(data.get("context")),
            _store({"enterpriseId": event.get("enterpriseid"), "storeId": event.get("storeid")}),
        )
        if store is not None
    }
    return Notice(
        event_id=event["id"][:200],
        source=event["source"][:500],
        type=event["type"][:200],
        repair_order_id=order_id if valid else None,
        store=next(iter(named)) if len(named) == 1 else None,
        stores_disagree=len(named) > 1,
    )


def receipt_id(notice: Notice) -> str:
    # CloudEvents are unique by (source, id).
    return hashlib.sha256(f"{notice.source}\n{notice.event_id}".encode()).hexdigest()[:40]


def _store(context: Any) -> tuple[str, str] | None:
    if not isinstance(context, dict):
        return None
    enterprise, store = context.get("enterpriseId"), context.get("storeId")
    if isinstance(enterprise, str | int) and isinstance(store, str) and store:
        return str(enterprise), store
    return None


def _mismatch(notice: Notice) -> None:
    # Ids only: which event, which repair order, and whether it named two stores itself.
    logger.warn(
        "keyloop event names another store: not applied",
        eventId=notice.event_id,
        repairOrderId=notice.repair_order_id,
        storesDisagree=notice.stores_disagree,
    )


def _authorised(given: str | None) -> bool:
    expected = settings.KEYLOOP_EVENTS_SECRET.value
    if not expected:
        logger.error("KEYLOOP_EVENTS_SECRET is empty: every event is refused")
        return False
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _take_back(receipt: Any) -> None:
    try:
        receipt.delete(**db.call_options())
    except Exception:  # the redelivery then reads as a duplicate; polling settles it
        logger.warn("could not take back an event receipt")
