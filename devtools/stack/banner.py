"""`make dev`'s banner: URLs, logins, a curl that books a slot, a Firebase JS SDK snippet."""

from __future__ import annotations

import contextlib
import json
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from keyloop_sandbox.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from visn.infra.settings import REGION

from ..seed import DEMO_USERS, IE_SUPPLIER, NO_DIARY_SUPPLIER, UK_SUPPLIER
from .config import CALLABLES, EVENTS_FUNCTION
from .lifecycle import Stack


def demo_slot(now: datetime, timezone: str = "Europe/London") -> datetime:
    """09:00 local, three or more days ahead, on a day the sandbox's store ENT-1001 opens
    (Monday to Saturday): a slot the printed curl can book."""
    zone = ZoneInfo(timezone)
    day: date = now.astimezone(zone).date() + timedelta(days=3)
    while day.weekday() == 6:  # Sunday
        day += timedelta(days=1)
    return datetime.combine(day, clock_time(9, 0), tzinfo=zone)


def banner(stack: Stack, now: datetime | None = None, *, follow: bool = True) -> str:
    """What a new engineer needs: URLs, logins, a curl that books a slot, a JS SDK snippet."""
    cfg = stack.config
    user = stack.users[0] if stack.users else dict(DEMO_USERS[0])
    start = demo_slot(now or datetime.now().astimezone())
    booking = {
        "data": {
            "idempotencyKey": f"make-dev-demo-{start:%Y%m%d}",
            "supplierId": UK_SUPPLIER,
            "serviceTypes": ["SERVICE", "MOT"],
            "slot": {"start": start.isoformat()},
            "vehicle": {"registration": "AB12 CDE"},
            "contact": {"givenName": "Ada", "familyName": "Lovelace"},
        }
    }
    sign_in = _compact(
        {"email": user["email"], "password": user["password"], "returnSecureToken": True}
    )
    runner = "Google Cloud CLI" if stack.firestore_runner == "gcloud" else "firebase-tools"
    logs = _relative(stack.log_dir)
    moved_to = f"{(start + timedelta(hours=2)).astimezone(ZoneInfo('UTC')):%Y-%m-%dT%H:%M:%S}.000Z"
    lines = [
        "",
        f"ViSN local stack up for project {cfg.project} "
        f"in {stack.timings.get('seeded', 0.0):.0f} s:",
        f"  Keyloop sandbox     {stack.sandbox_url}  (GET /_sandbox/appointments)",
        f"  Firestore emulator  {stack.firestore_host}  ({runner})",
        f"  Auth emulator       {stack.auth_url}",
        f"  Functions emulator  {stack.functions_url}",
        f"  Dev console         {stack.console_url}  (sign in, see slots, book, move, cancel)",
        "",
        f"Callables (region {REGION}):",
        *(f"  {stack.callable_url(name)}" for name in CALLABLES),
        "",
        "Demo logins (email / password, custom claim customerId):",
        *(
            f"  {u['email']} / {u['password']}  customerId={u['customerId']}"
            for u in (stack.users or DEMO_USERS)
        ),
        f"Suppliers: {UK_SUPPLIER} (Keyloop), {IE_SUPPLIER} (Keyloop, localTimes), "
        f"{NO_DIARY_SUPPLIER} (no live diary)",
        "",
        "Book a slot with curl (an ID token from the Auth emulator first):",
        f"  TOKEN=$(curl -s '{stack.auth_url}/identitytoolkit.googleapis.com/v1/"
        "accounts:signInWithPassword?key=any' \\",
        f"    -H 'Content-Type: application/json' -d '{sign_in}' \\",
        "    | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"idToken\"])')",
        f"  curl -s {stack.callable_url('createBooking')} \\",
        "    -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\",
        f"    -d '{_compact(booking)}'",
        f"  curl -s {stack.sandbox_url}/_sandbox/appointments",
        "",
        "Play the dealer: move, cancel or complete it in the DMS (the sandbox posts a Keyloop",
        f"event to {stack.callable_url(EVENTS_FUNCTION)}; the dev console's card follows):",
        f"  curl -s -X POST {stack.sandbox_url}/_sandbox/appointments/APPOINTMENT_ID/move \\",
        f"    -d '{_compact({'dueInDateTime': moved_to})}'",
        f"  curl -s -X POST {stack.sandbox_url}/_sandbox/appointments/APPOINTMENT_ID/cancel",
        "Re-read every booked enquiry from the DMS now (the polling safety net, by hand):",
        f"  GCLOUD_PROJECT={cfg.project} FIRESTORE_EMULATOR_HOST={stack.firestore_host} "
        f"KEYLOOP_BASE_URL={stack.sandbox_url} \\",
        f"    KEYLOOP_CLIENT_ID={DEFAULT_CLIENT_ID} KEYLOOP_CLIENT_SECRET={DEFAULT_CLIENT_SECRET} "
        "venv/bin/python -m visn sync",
        "",
        "The same from the Firebase JS SDK (npm package firebase):",
        '  import { initializeApp } from "firebase/app";',
        "  import { getAuth, connectAuthEmulator, signInWithEmailAndPassword }",
        '    from "firebase/auth";',
        "  import { getFunctions, connectFunctionsEmulator, httpsCallable }",
        '    from "firebase/functions";',
        f'  const app = initializeApp({{ projectId: "{cfg.project}", apiKey: "demo-key" }});',
        "  const auth = getAuth(app);",
        f'  connectAuthEmulator(auth, "{stack.auth_url}");',
        f'  await signInWithEmailAndPassword(auth, "{user["email"]}", "{user["password"]}");',
        f'  const functions = getFunctions(app, "{REGION}");',
        f'  connectFunctionsEmulator(functions, "{cfg.host}", {cfg.functions_port});',
        '  const { data } = await httpsCallable(functions, "getAvailability")({',
        f'    supplierId: "{UK_SUPPLIER}", date: "{start:%Y-%m-%d}",',
        '    serviceTypes: ["SERVICE"] });',
        "  console.log(data.days[0].slots);",
        "",
        f"Logs: {logs}/ (sandbox.log, firestore-emulator.log, firebase.log, console.log).",
        "Function logs follow. Ctrl-C stops everything." if follow else "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _relative(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)
