"""`POST /oauth/client_credential/accesstoken`: Apigee's client-credentials token endpoint."""

from __future__ import annotations

import base64
import binascii
import uuid
from urllib.parse import parse_qs

from .request import ApiRequest
from .responses import Response
from .state import ClientCheck, SandboxState

_PRODUCT = "appointments"


def handle_token(state: SandboxState, request: ApiRequest) -> Response:
    """Issue a token, or answer with Apigee's own token error shape."""
    if request.method != "POST":
        return _error(405, "invalid_request", "Use POST to request a token")
    grant_type = _grant_type(request)
    if grant_type is None:
        return _error(
            400, "invalid_request", "The request is missing a required parameter : grant_type"
        )
    if grant_type != "client_credentials":
        return _error(400, "unsupported_grant_type", f"Unsupported grant type : {grant_type}")
    client_id, secret = _credentials(state.token_auth(), request)
    check = state.check_client(client_id, secret) if client_id else ClientCheck.UNKNOWN_CLIENT
    if check is ClientCheck.UNKNOWN_CLIENT:
        # Apigee echoes the client id (never the secret).
        return _error(
            401, "invalid_request", f"Invalid client id : {client_id}. ClientId is Invalid"
        )
    if check is ClientCheck.INVALID_CLIENT:
        return _error(401, "invalid_client", "ClientId is Invalid")
    grant = state.issue_token(client_id)
    products = [_PRODUCT] if grant.entitled else []
    # Apigee answers every value as a string, except the JSON product list.
    body = {
        "refresh_token_expires_in": "0",
        "api_product_list": f"[{', '.join(products)}]",
        "api_product_list_json": products,
        "organization_name": "keyloop",
        "developer.email": "sandbox@example.invalid",
        "token_type": grant.token_type,
        "issued_at": str(grant.issued_at_ms),
        "client_id": client_id,
        "access_token": grant.token.value,
        "application_name": _application_name(client_id),
        "scope": "",
        "expires_in": str(int(grant.ttl_seconds)),
        "refresh_count": "0",
        "status": "approved",
    }
    return Response(200, body)


def _grant_type(request: ApiRequest) -> str | None:
    """`grant_type` from the query string, else from a form body (either suffices)."""
    values = request.query.get("grant_type")
    if not values and _is_form(request.content_type):
        values = parse_qs(request.body.decode("utf-8", "replace")).get("grant_type")
    return values[0] if values else None


def _credentials(mode: str, request: ApiRequest) -> tuple[str, str]:
    """(client id, secret) as the tenant's set-up reads them: the Basic header, the form
    body's client_id/client_secret, or either (Basic first)."""
    basic = _basic_credentials(request.authorization) if mode != "form" else ("", "")
    if basic[0] or mode == "basic":
        return basic
    if not _is_form(request.content_type):
        return "", ""
    form = parse_qs(request.body.decode("utf-8", "replace"))
    return form.get("client_id", [""])[0], form.get("client_secret", [""])[0]


def _is_form(content_type: str | None) -> bool:
    # A body without a content type is read as a form too, as lenient gateways do.
    return content_type is None or "application/x-www-form-urlencoded" in content_type.lower()


def _basic_credentials(header: str | None) -> tuple[str, str]:
    """(client id, secret) from `Authorization: Basic …`; ("", "") when absent or garbled."""
    scheme, _, encoded = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def _application_name(client_id: str) -> str:
    """A stable UUID per client, like the app id Apigee reports."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"keyloop-sandbox:{client_id}"))


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, {"ErrorCode": code, "Error": message})
