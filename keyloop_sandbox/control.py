"""`/_sandbox/...` control endpoints for tests, benchmarks and local dev (no auth, not logged).

- `GET  /_sandbox/health`                          → `{"ok": true}`
- `POST /_sandbox/reset`                           → everything back to startup; `{"ok": true}`
- `GET  /_sandbox/appointments[?status=BOOKED]`    → `{"appointments": [...]}`
- `GET  /_sandbox/requests`                        → `{"requests": [...], "counts": {...}}`
- `GET|POST|DELETE /_sandbox/faults`               → `{"faults": [pending...]}` (see faults.py)
- `POST /_sandbox/latency {"ms"}`                  → `{"latencyMs": ms}`
- `POST /_sandbox/tokens/expire`                   → `{"expired": n}`
- `GET|POST /_sandbox/config {"tokenType", "tokenTtlSeconds", "notEntitledClients", "clients"}`
                                                   → the settings (client ids, never secrets)
- `GET  /_sandbox/stores`                          → `{"stores": [...]}`
- `PUT  /_sandbox/stores/{enterpriseId}/{storeId}` → the store as stored

The dealer, working in the DMS (each change frees or takes capacity, and is published as an
event to the subscribers, see events.py):
- `POST /_sandbox/appointments/{id}/move {"dueInDateTime"}` → the appointment (409 when the
  slot is full or the appointment is not live, 400 when the time is not a slot start)
- `POST /_sandbox/appointments/{id}/cancel`        → the appointment
- `POST /_sandbox/appointments/{id}/complete {"status"="WORKCOMPLETED"|"CLOSED"}`
- `POST /_sandbox/appointments/{id}/unbook {"labourStatus"="CANCELLED"}` → the appointment:
  the dealer cancels the way Keyloop's own adapter detects it (the repair order stays
  `CREATED`, every labour item says `labourStatus` instead of `BOOKED`; the place is freed and
  the appointment API treats it as cancelled: a `DELETE` answers 404)
- `GET|POST|DELETE /_sandbox/subscriptions {"url", "secret", "enterpriseId"?, "storeId"?}`
- `GET|POST /_sandbox/events {"delayMs", "duplicate", "drop", "hold"}` → switches and the log
- `POST /_sandbox/events/release {"newestFirst"=true}` → `{"released": n}`
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .config import TOKEN_AUTH_MODES, store_from_json
from .diary import STATUSES
from .faults import parse_fault
from .jsonbody import (
    BadRequestError,
    boolean,
    number,
    parse_object,
    reject_unknown_keys,
    string_list,
    string_map,
)
from .request import ApiRequest
from .responses import Response, json_error, method_not_allowed, not_found
from .state import SandboxState, SettingsUpdate
from .subscription import Subscription
from .times import parse_instant, slot_starting_at

_REPAIR_ORDER_DONE = ("WORKCOMPLETED", "CLOSED")

_Handler = Callable[[SandboxState, ApiRequest], Response]


def handle_control(state: SandboxState, request: ApiRequest) -> Response:
    """Answer a `/_sandbox/...` call."""
    handler = _find_handler(request)
    if isinstance(handler, Response):
        return handler
    try:
        return handler(state, request)
    except BadRequestError as exc:
        return json_error(400, exc.code, exc.message)


def _find_handler(request: ApiRequest) -> _Handler | Response:
    """The handler for this path and method, or the 404/405 to answer instead."""
    route = request.segments[1:]
    if route[:1] == ("stores",) and len(route) == 3:
        return _put_store if request.method == "PUT" else method_not_allowed()
    if route[:1] == ("appointments",) and len(route) == 3:
        dealer = _DEALER_ACTIONS.get(route[2])
        if dealer is None:
            return not_found()
        return dealer if request.method == "POST" else method_not_allowed()
    methods = _ROUTES.get(route)
    if methods is None:
        return not_found()
    return methods.get(request.method) or method_not_allowed()


def _health(_state: SandboxState, _request: ApiRequest) -> Response:
    return Response(200, {"ok": True})


def _reset(state: SandboxState, _request: ApiRequest) -> Response:
    state.reset()
    return Response(200, {"ok": True})


def _appointments(state: SandboxState, request: ApiRequest) -> Response:
    values = request.query.get("status")
    status = values[0] if values else None
    if status is not None and status not in STATUSES:
        raise BadRequestError(f"status must be one of {', '.join(STATUSES)}")
    return Response(200, {"appointments": state.appointments_json(status)})


def _requests(state: SandboxState, _request: ApiRequest) -> Response:
    return Response(200, state.requests_json())


def _list_faults(state: SandboxState, _request: ApiRequest) -> Response:
    return Response(200, {"faults": state.faults_json()})


def _add_fault(state: SandboxState, request: ApiRequest) -> Response:
    fault, count = parse_fault(parse_object(request.body))
    return Response(200, {"faults": state.add_fault(fault, count)})


def _clear_faults(state: SandboxState, _request: ApiRequest) -> Response:
    state.clear_faults()
    return Response(200, {"faults": []})


def _latency(state: SandboxState, request: ApiRequest) -> Response:
    data = parse_object(request.body)
    reject_unknown_keys(data, ("ms",))
    ms = number(data.get("ms"), "ms")
    state.set_latency(ms)
    return Response(200, {"latencyMs": ms})


def _expire_tokens(state: SandboxState, _request: ApiRequest) -> Response:
    return Response(200, {"expired": state.expire_tokens()})


def _get_config(state: SandboxState, _request: ApiRequest) -> Response:
    return Response(200, state.settings_json())


def _update_config(state: SandboxState, request: ApiRequest) -> Response:
    data = parse_object(request.body)
    reject_unknown_keys(
        data, ("tokenType", "tokenTtlSeconds", "notEntitledClients", "clients", "tokenAuth")
    )
    token_auth = data.get("tokenAuth")
    if token_auth is not None and token_auth not in TOKEN_AUTH_MODES:
        raise BadRequestError(f"tokenAuth must be one of {', '.join(TOKEN_AUTH_MODES)}")
    token_type = data.get("tokenType")
    if token_type is not None and (not isinstance(token_type, str) or not token_type):
        raise BadRequestError("tokenType must be a non-empty string")
    ttl = data.get("tokenTtlSeconds")
    not_entitled = data.get("notEntitledClients")
    update = SettingsUpdate(
        token_type=token_type,
        token_ttl_seconds=None if ttl is None else number(ttl, "tokenTtlSeconds"),
        not_entitled_clients=(
            None if not_entitled is None else string_list(not_entitled, "notEntitledClients")
        ),
        clients=string_map(data.get("clients", {}), "clients"),
        token_auth=token_auth,
    )
    return Response(200, state.update_settings(update))


def _list_stores(state: SandboxState, _request: ApiRequest) -> Response:
    return Response(200, {"stores": [store.to_json() for store in state.stores()]})


def _put_store(state: SandboxState, request: ApiRequest) -> Response:
    _, enterprise_id, store_id = request.segments[1:]
    store = store_from_json(parse_object(request.body, empty_ok=True), enterprise_id, store_id)
    state.put_store(store)
    return Response(200, store.to_json())


def _dealer_appointment(state: SandboxState, request: ApiRequest) -> Any:
    appointment = state.appointment(request.segments[2])
    if appointment is None:
        return json_error(404, "APPOINTMENT_NOT_FOUND", "No appointment with that id")
    return appointment


def _dealer_move(state: SandboxState, request: ApiRequest) -> Response:
    appointment = _dealer_appointment(state, request)
    if isinstance(appointment, Response):
        return appointment
    data = parse_object(request.body)
    reject_unknown_keys(data, ("dueInDateTime",))
    text = data.get("dueInDateTime")
    store = state.store(appointment.enterprise_id, appointment.store_id)
    if store is None:
        return json_error(404, "STORE_NOT_FOUND", "The appointment's store is gone")
    try:
        instant = parse_instant(text if isinstance(text, str) else "", store)
    except ValueError:
        raise BadRequestError("dueInDateTime must be an ISO-8601 date-time") from None
    slot = slot_starting_at(store, instant)
    if slot is None:
        raise BadRequestError("dueInDateTime is not the start of a slot of this store")
    problem = state.dealer_move(appointment, store, slot)
    if problem is not None:
        return json_error(409, problem, "The appointment cannot be moved there")
    return Response(200, appointment.to_json())


def _dealer_cancel(state: SandboxState, request: ApiRequest) -> Response:
    appointment = _dealer_appointment(state, request)
    if isinstance(appointment, Response):
        return appointment
    store = state.store(appointment.enterprise_id, appointment.store_id)
    if store is None or not state.cancel(store, appointment.appointment_id, by_dealer=True):
        return json_error(409, "NOT_LIVE", "The appointment is not live")
    return Response(200, appointment.to_json())


def _dealer_complete(state: SandboxState, request: ApiRequest) -> Response:
    appointment = _dealer_appointment(state, request)
    if isinstance(appointment, Response):
        return appointment
    data = parse_object(request.body, empty_ok=True)
    reject_unknown_keys(data, ("status",))
    status = data.get("status", "WORKCOMPLETED")
    if status not in _REPAIR_ORDER_DONE:
        raise BadRequestError(f"status must be one of {', '.join(_REPAIR_ORDER_DONE)}")
    if not state.dealer_complete(appointment, str(status)):
        return json_error(409, "NOT_LIVE", "The appointment is not live")
    return Response(200, appointment.to_json())


def _dealer_unbook(state: SandboxState, request: ApiRequest) -> Response:
    appointment = _dealer_appointment(state, request)
    if isinstance(appointment, Response):
        return appointment
    data = parse_object(request.body, empty_ok=True)
    reject_unknown_keys(data, ("labourStatus",))
    labour = data.get("labourStatus", "CANCELLED")
    if not isinstance(labour, str) or not labour or labour.upper() == "BOOKED":
        raise BadRequestError("labourStatus must be a non-empty string other than BOOKED")
    if not state.dealer_unbook(appointment, labour):
        return json_error(409, "NOT_LIVE", "The appointment is not live")
    return Response(200, appointment.to_json())


_DEALER_ACTIONS: dict[str, _Handler] = {
    "move": _dealer_move,
    "cancel": _dealer_cancel,
    "complete": _dealer_complete,
    "unbook": _dealer_unbook,
}


def _list_subscriptions(state: SandboxState, _request: ApiRequest) -> Response:
    return Response(200, {"subscriptions": state.events.subscriptions_json()})


def _subscribe(state: SandboxState, request: ApiRequest) -> Response:
    data = parse_object(request.body)
    reject_unknown_keys(data, ("url", "secret", "enterpriseId", "storeId"))
    url = data.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise BadRequestError("url must be an http(s) URL")
    secret = data.get("secret")
    if not isinstance(secret, str):
        raise BadRequestError("secret must be a string")
    ids = [data.get("enterpriseId"), data.get("storeId")]
    if any(v is not None and not isinstance(v, str) for v in ids):
        raise BadRequestError("enterpriseId and storeId must be strings")
    subscription = Subscription(url, secret, *ids)
    return Response(200, {"subscriptions": state.events.subscribe(subscription)})


def _unsubscribe(state: SandboxState, _request: ApiRequest) -> Response:
    state.events.unsubscribe_all()
    return Response(200, {"subscriptions": []})


def _events(state: SandboxState, _request: ApiRequest) -> Response:
    return Response(200, state.events.state_json())


def _configure_events(state: SandboxState, request: ApiRequest) -> Response:
    data = parse_object(request.body)
    reject_unknown_keys(data, ("delayMs", "duplicate", "drop", "hold"))
    drop = data.get("drop")
    if drop is not None and (isinstance(drop, bool) or not isinstance(drop, int) or drop < 0):
        raise BadRequestError("drop must be an integer >= 0 (events to drop)")
    settings = state.events.configure(
        delay_ms=None if "delayMs" not in data else number(data["delayMs"], "delayMs"),
        duplicate=None if "duplicate" not in data else boolean(data["duplicate"], "duplicate"),
        drop=drop,
        hold=None if "hold" not in data else boolean(data["hold"], "hold"),
    )
    return Response(200, {"settings": settings})


def _release_events(state: SandboxState, request: ApiRequest) -> Response:
    data = parse_object(request.body, empty_ok=True)
    reject_unknown_keys(data, ("newestFirst",))
    newest_first = boolean(data.get("newestFirst", True), "newestFirst")
    return Response(200, {"released": state.events.release(newest_first)})


_ROUTES: dict[tuple[str, ...], dict[str, _Handler]] = {
    ("health",): {"GET": _health},
    ("reset",): {"POST": _reset},
    ("appointments",): {"GET": _appointments},
    ("requests",): {"GET": _requests},
    ("faults",): {"GET": _list_faults, "POST": _add_fault, "DELETE": _clear_faults},
    ("latency",): {"POST": _latency},
    ("tokens", "expire"): {"POST": _expire_tokens},
    ("config",): {"GET": _get_config, "POST": _update_config},
    ("stores",): {"GET": _list_stores},
    ("subscriptions",): {"GET": _list_subscriptions, "POST": _subscribe, "DELETE": _unsubscribe},
    ("events",): {"GET": _events, "POST": _configure_events},
    ("events", "release"): {"POST": _release_events},
}
