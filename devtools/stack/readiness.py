"""Whether the functions emulator runs our code: the callables it loaded, and their answers."""

from __future__ import annotations

import requests

from visn.infra.settings import REGION

# firebase-tools logs this, and then still reports "All emulators ready!".
LOAD_FAILED = "Failed to load function definition"


def loaded_callables(http: requests.Session, functions_url: str) -> set[str]:
    """The callables the functions emulator has loaded, in the contract's region."""
    try:
        response = http.get(f"{functions_url}/backends", timeout=5)
        backends = response.json()["backends"] if response.ok else []
    except (requests.RequestException, ValueError, KeyError):
        return set()
    return {
        str(trigger.get("entryPoint"))
        for backend in backends
        for trigger in backend.get("functionTriggers", [])
        if trigger.get("region") == REGION
        and "httpsTrigger" in trigger
        and trigger.get("labels", {}).get("deployment-callable") == "true"
    }


def serves_callable(http: requests.Session, url: str) -> bool:
    """A signed-out call gets our own UNAUTHENTICATED (with `details.reason`): the worker
    imported main.py and runs our code, rather than the emulator answering "Function ...
    does not exist"."""
    try:
        response = http.post(url, json={"data": None}, timeout=30)
        error = response.json().get("error")
    except (requests.RequestException, ValueError, AttributeError):
        return False
    return (
        response.status_code == 401
        and isinstance(error, dict)
        and (error.get("details") or {}).get("reason") == "UNAUTHENTICATED"
    )


def serves_events(http: requests.Session, url: str) -> bool:
    """keyloopEvents answers a POST without the key with its own 401 (the worker runs our
    code), not the emulator's 404 for a function it does not know."""
    try:
        response = http.post(url, data=b"{}", timeout=30)
    except requests.RequestException:
        return False
    return response.status_code == 401
