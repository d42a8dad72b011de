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
"""

from __future__ import annotations

from collections.abc import Callable

from .config import store_from_json
from .diary import BOOKED, CANCELLED
from .faults import parse_fault
from .jsonbody import (
    BadRequestError,
    number,
    parse_object,
    reject_unknown_keys,
    string_list,
    string_map,
)
from .request import ApiRequest
from .responses import Response, json_error, method_not_allowed, not_found
from .state import SandboxState, SettingsUpdate

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
    if status is not None and status not in (BOOKED, CANCELLED):
        raise BadRequestError(f"status must be {BOOKED} or {CANCELLED}")
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
    reject_unknown_keys(data, ("tokenType", "tokenTtlSeconds", "notEntitledClients", "clients"))
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
    )
    return Response(200, state.update_settings(update))


def _list_stores(state: SandboxState, _request: ApiRequest) -> Response:
    return Response(200, {"stores": [store.to_json() for store in state.stores()]})


def _put_store(state: SandboxState, request: ApiRequest) -> Response:
    _, enterprise_id, store_id = request.segments[1:]
    store = store_from_json(parse_object(request.body, empty_ok=True), enterprise_id, store_id)
    state.put_store(store)
    return Response(200, store.to_json())


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
}
