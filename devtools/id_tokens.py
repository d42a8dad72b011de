"""ID tokens as the Auth emulator issues them: unsigned, with the right audience and issuer.

firebase_admin accepts them while FIREBASE_AUTH_EMULATOR_HOST is set, so in-process callers
(the tests' harness, the benchmark) go through the callable wrapper's real token check.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any


def emulator_id_token(project: str, uid: str, customer_id: str | None) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "sub": uid,
        "user_id": uid,
        "auth_time": now,
        "iat": now,
        "exp": now + 3600,
        "firebase": {"sign_in_provider": "password", "identities": {}},
    }
    if customer_id is not None:
        claims["customerId"] = customer_id
    return ".".join([_b64({"alg": "none", "typ": "JWT"}), _b64(claims), ""])


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
