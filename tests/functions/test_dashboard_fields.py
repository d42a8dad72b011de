"""The log fields the dashboard's metrics read (ops/dashboards, ops/metrics), through the
real callables, the sync and the reconciler: one line per Keyloop call, the cache's hits and
misses on a view's line, the sync's lag, and what waits at each reconciler run."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from devtools.seed import UK_SUPPLIER
from tests.functions.conftest import FROZEN_NOW
from tests.functions.harness import Harness
from tests.functions.test_cancel_rearrange import booked
from visn.saga.compensations import COMPENSATIONS
from visn.saga.operations import OPERATIONS
from visn.saga.reconciler import reconcile
from visn.sync.names import SYNC_CHECKS
from visn.sync.polling import SyncSettings, sync


def _lines(capsys: pytest.CaptureFixture[str], message: str) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == message]


def test_each_keyloop_call_writes_its_own_line(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    booked(harness)
    calls = _lines(capsys, "keyloop call finished")
    upstream = {r["correlationId"]: r["endpoint"] for r in harness.upstream_requests()}
    assert {c["correlationId"]: c["operation"] for c in calls} == upstream  # token, create
    for call in calls:
        assert set(call) == {
            *("message", "severity", "operation", "status", "outcome", "ms", "correlationId"),
        }
        assert (call["status"], call["outcome"]) in {(200, "ok"), (201, "ok")}
        assert call["ms"] > 0


def test_a_view_s_line_counts_its_days_from_the_cache_and_not(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    view = {"supplierId": UK_SUPPLIER, "date": "2027-01-12", "days": 3, "serviceTypes": ["MOT"]}
    assert harness.call("getAvailability", view).ok
    assert harness.call("getAvailability", {**view, "date": "2027-01-13"}).ok
    first, second = _lines(capsys, "callable finished")
    assert (first["cacheHits"], first["cacheMisses"]) == (0, 3)
    assert (second["cacheHits"], second["cacheMisses"]) == (2, 1)  # the 13th and 14th cached
    past = {**view, "date": "2020-01-01"}  # refused before any day is looked at
    assert harness.call("getAvailability", past).reason == "VALIDATION"
    (refused,) = _lines(capsys, "callable finished")
    assert "cacheHits" not in refused


def test_the_sync_line_says_how_far_behind_its_interval_it_is(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    created = booked(harness)  # 2027-01-12, 8 days ahead: looked at every 6 hours
    capsys.readouterr()
    assert sync(SyncSettings()).lag_seconds == 0  # never looked at: due, no lag counted
    assert _lines(capsys, "dms sync run finished")[0]["lagS"] == 0
    harness.db.collection(SYNC_CHECKS).document(created["enquiryId"]).set(
        {"checkedAt": FROZEN_NOW - timedelta(hours=8), "outcome": "UNCHANGED"}
    )
    report = sync(SyncSettings())
    assert (report.due, report.lag_seconds) == (1, 2 * 3600)  # due 2 hours ago
    assert _lines(capsys, "dms sync run finished")[0]["lagS"] == 7200
    assert sync(SyncSettings()).due == 0  # looked at now: nothing due, no lag
    assert _lines(capsys, "dms sync run finished")[0]["lagS"] == 0


def test_each_reconciler_run_counts_what_waits(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    later = FROZEN_NOW + timedelta(hours=1)  # not due: the run leaves them alone
    for i, status in enumerate(["PENDING"] * 3 + ["NEEDS_ATTENTION"] * 2 + ["DONE"]):
        harness.db.collection(COMPENSATIONS).document(f"c{i}").set(
            {"status": status, "nextAttemptAt": later, "settled": True}
        )
    harness.db.collection(OPERATIONS).document("op-unknown").set(
        {"status": "OUTCOME_UNKNOWN", "updatedAt": FROZEN_NOW}
    )
    reconcile()
    (line,) = _lines(capsys, "reconciler run finished")
    waiting = (line["owedCancels"], line["owedCancelsForAPerson"], line["outcomesUnknown"])
    assert waiting == (3, 2, 1)
