"""`python -m bench.dms_sync`: the figures of the DMS sync (issue 12).

Against the sandbox in its own process (a fixed latency per call) and the Firestore emulator,
with `keyloopEvents` served in this process on a real socket and the sandbox subscribed to it:

1. **Webhook answer time**: a CloudEvent posted for a booked enquiry, answered after the read-
   back and the comparison (no change), and one for a repair order that is not ours.
2. **Dealer change to enquiry** (the event path): from the sandbox's control call that moves
   an appointment to the moment a Firestore listener sees the enquiry's new slot.
3. **Keyloop calls per sync run** with 500 BOOKED enquiries in the next 14 days: the scheduled
   run (its bound), and a run by hand (`python -m visn sync`, every enquiry).
4. **Coverage** (issue 21, `bench/dms_coverage.py`): Keyloop reads per scheduled run and per
   day with every future booking followed, for 500 and 5,000 bookings over 180 days.

Prints a table, and the figures as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import flask
import requests
from werkzeug.serving import make_server

from .stack import ENTERPRISE_ID, PROJECT, ROOT, STORE_ID, Stack, running_stack

SECRET = "bench-events-secret"  # noqa: S105 (a bench value)
SERVICE = "3f0c6a52-6f7e-4d4b-9b1e-0a0000000001"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dms_sync")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--enquiries", type=int, default=500)
    parser.add_argument(
        "--coverage-sizes", default="500,5000", help="future bookings, comma-separated ('' skips)"
    )
    args = parser.parse_args(argv)
    log_dir = ROOT / "bench" / "results" / "logs"
    with running_stack(args.latency_ms, log_dir) as stack:
        os.environ.update({**stack.environment(), "KEYLOOP_EVENTS_SECRET": SECRET})
        stack.seed_suppliers()
        figures = _measure(stack, args)
        sizes = tuple(int(n) for n in args.coverage_sizes.split(",") if n.strip())
        if sizes:
            from .dms_coverage import measure as coverage

            figures.update(coverage(stack, sizes, args.latency_ms))
    figures["latencyMs"] = args.latency_ms
    for name, value in figures.items():
        print(f"{name:<40} {value}")
    print(json.dumps(figures, separators=(",", ":")), flush=True)
    return 0


def _measure(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    from google.cloud import firestore

    import main as functions
    from visn.infra import clients
    from visn.sync.polling import SyncSettings, sync

    clients.reset()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    app = flask.Flask("bench-events")
    app.add_url_rule(
        "/keyloopEvents", "e", lambda: functions.keyloopEvents(flask.request), methods=["POST"]
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/keyloopEvents"
    db = firestore.Client(project=PROJECT)
    try:
        booked = _book(stack, db, args.enquiries)
        http = requests.Session()

        def post(repair_order_id: str) -> float:
            event = {
                "specversion": "1.0",
                "id": uuid.uuid4().hex,
                "source": "urn:bench",
                "type": "com.keyloop.bench",
                "data": {
                    "repairOrderId": repair_order_id,
                    "context": {"enterpriseId": ENTERPRISE_ID, "storeId": STORE_ID},
                },
            }
            headers = {"Content-Type": "application/cloudevents+json", "x-api-key": SECRET}
            started = time.perf_counter()
            response = http.post(url, data=json.dumps(event), headers=headers, timeout=30)
            assert response.status_code == 204, response.status_code
            return (time.perf_counter() - started) * 1000

        post(booked[0][2])  # warm: token, connections, supplier cache
        ours = [post(booked[i % len(booked)][2]) for i in range(args.iterations)]
        not_ours = [post(f"not-ours-{i}") for i in range(args.iterations)]

        stack.post("subscriptions", {"url": url, "secret": SECRET})
        to_enquiry = [
            _dealer_move_seen(stack, db, booked[i]) for i in range(min(args.iterations, 20))
        ]
        stack.http.delete(f"{stack.sandbox_url}/_sandbox/subscriptions", timeout=10)

        before = stack.upstream_counts()
        began = time.perf_counter()
        scheduled = sync(SyncSettings())
        scheduled_s = time.perf_counter() - began
        middle = stack.upstream_counts()
        began = time.perf_counter()
        by_hand = sync(SyncSettings(max_reads=None, force=True))
        by_hand_s = time.perf_counter() - began
        after = stack.upstream_counts()
        return {
            "webhookAnswerMsMedian(ours, unchanged)": round(statistics.median(ours), 1),
            "webhookAnswerMsP95(ours, unchanged)": round(_p95(ours), 1),
            "webhookAnswerMsMedian(not ours)": round(statistics.median(not_ours), 1),
            "dealerChangeToEnquiryMsMedian": round(statistics.median(to_enquiry), 1),
            "dealerChangeToEnquiryMsMax": round(max(to_enquiry), 1),
            "enquiriesConsidered": scheduled.considered,
            "scheduledRun.repairOrderReads": middle["repairOrder"] - before["repairOrder"],
            "scheduledRun.tokenRequests": middle["token"] - before["token"],
            "scheduledRun.leftForNextRun": scheduled.left_for_next_run,
            "scheduledRun.seconds": round(scheduled_s, 2),
            "byHandRun.repairOrderReads": after["repairOrder"] - middle["repairOrder"],
            "byHandRun.tokenRequests": after["token"] - middle["token"],
            "byHandRun.changed": len(by_hand.changed),
            "byHandRun.seconds": round(by_hand_s, 2),
        }
    finally:
        server.shutdown()
        clients.reset()


def _book(stack: Stack, db: Any, count: int) -> list[tuple[datetime, str, str]]:
    """`count` appointments in the next 14 days, each with a BOOKED enquiry."""
    from keyloop import KeyloopClient, KeyloopSettings, NewAppointment, StaticCredentials, Store

    env = stack.environment()
    client = KeyloopClient(
        KeyloopSettings(env["KEYLOOP_BASE_URL"]),
        StaticCredentials(env["KEYLOOP_CLIENT_ID"], env["KEYLOOP_CLIENT_SECRET"]),
    )
    store = Store(ENTERPRISE_ID, STORE_ID)
    now = datetime.now(UTC)
    made: list[tuple[datetime, str, str]] = []
    day = now.date() + timedelta(days=1)
    while len(made) < count:
        if day.weekday() != 6:
            for hour in range(9, 16):
                start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
                for _ in range(12):  # the bench's store has room; all 500 within 14 days
                    if len(made) < count:
                        appointment = client.create_appointment(
                            store,
                            NewAppointment(
                                external_reference=f"bench-{len(made)}",
                                due_in=start,
                                service_product_ids=(SERVICE,),
                                given_name="A",
                                family_name="B",
                                license_plate="AB12CDE",
                            ),
                        )
                        made.append((start, f"bench-{len(made):04d}", appointment.appointment_id))
        day += timedelta(days=1)
    client.close()
    batch = db.batch()
    for index, (start, enquiry_id, appointment_id) in enumerate(made):
        batch.set(
            db.collection("enquiries").document(enquiry_id),
            {
                "customerId": "cust-a",
                "supplierId": "keyloop-leeds",
                "status": "BOOKED",
                "slot": {"start": start.isoformat(), "end": None},
                "dms": {
                    "provider": "KEYLOOP",
                    "appointmentId": appointment_id,
                    "enterpriseId": ENTERPRISE_ID,
                    "storeId": STORE_ID,
                    "localTimeZone": None,
                },
                "history": [],
            },
        )
        if index % 400 == 399:
            batch.commit()
            batch = db.batch()
    batch.commit()
    return made


def _dealer_move_seen(stack: Stack, db: Any, booking: tuple[datetime, str, str]) -> float:
    """ms from the dealer's move (the control call sent) to a listener seeing the new slot."""
    start, enquiry_id, appointment_id = booking
    target = start + timedelta(hours=1) if start.hour < 15 else start - timedelta(hours=1)
    seen = threading.Event()
    expected = target.isoformat()

    def on_change(snapshots: Any, _changes: Any, _at: Any) -> None:
        for snapshot in snapshots:
            if ((snapshot.to_dict() or {}).get("slot") or {}).get("start") == expected:
                seen.set()

    watch = db.collection("enquiries").document(enquiry_id).on_snapshot(on_change)
    time.sleep(0.2)  # the listener's first snapshot
    began = time.perf_counter()
    stack.post(
        f"appointments/{appointment_id}/move",
        {"dueInDateTime": target.strftime("%Y-%m-%dT%H:%M:%S.000Z")},
    )
    if not seen.wait(30):
        raise RuntimeError("the move never reached the enquiry")
    elapsed = (time.perf_counter() - began) * 1000
    watch.unsubscribe()
    return elapsed


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


if __name__ == "__main__":
    raise SystemExit(main())
