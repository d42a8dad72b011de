"""`GET /{enterpriseId}/{storeId}/v1/repair-orders/{id}`: an appointment read back.

Behind the same gateway token check as the appointment API. The repair order id is the
appointment id (as Keyloop's own adapter uses it). An unknown id in a known store is the
API's own 404 (`{"code", "message"}`), never the gateway's fault shape.
"""

from __future__ import annotations

from .appointments_api import auth_fault
from .request import ApiRequest
from .responses import Response, json_error, method_not_allowed
from .state import SandboxState


def handle_repair_order_call(state: SandboxState, endpoint: str, request: ApiRequest) -> Response:
    fault = auth_fault(state, request)
    if fault is not None:
        return fault
    if endpoint != "repairOrder":
        return method_not_allowed()
    enterprise_id, store_id, repair_order_id = (
        request.segments[0],
        request.segments[1],
        request.segments[4],
    )
    store = state.store(enterprise_id, store_id)
    if store is None:
        return json_error(
            404, "STORE_NOT_FOUND", f"No store {store_id} in enterprise {enterprise_id}"
        )
    order = state.repair_order(store, repair_order_id)
    if order is None:
        return json_error(404, "REPAIR_ORDER_NOT_FOUND", "No repair order with that id here")
    return Response(200, order)
