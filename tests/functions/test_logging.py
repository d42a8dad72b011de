"""The per-invocation log line: what on-call people search by."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.functions.harness import ALICE, Harness
from tests.functions.test_create_booking import KEY, booking
from visn.saga.operations import operation_id


def _finished_lines(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "callable finished"]


def test_create_logs_ids_and_keyloop_calls(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    result = harness.call("createBooking", booking()).result
    (line,) = _finished_lines(capsys.readouterr().out)
    assert line["severity"] == "INFO"
    assert line["callable"] == "createBooking"
    assert (line["outcome"], line["reason"]) == ("ok", None)
    assert line["supplierId"] == "keyloop-leeds"
    assert line["enquiryId"] == result["enquiryId"]
    assert line["operationId"] == operation_id(ALICE.uid, KEY)
    upstream = {r["correlationId"]: r["endpoint"] for r in harness.upstream_requests()}
    logged = {c["correlationId"]: c["operation"] for c in line["keyloopCalls"]}
    assert logged == upstream  # token and create, matched with what Keyloop saw
    assert line["keyloopMs"] > 0
    assert line["totalMs"] >= line["keyloopMs"]


def test_failures_log_their_reason(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    harness.fault("availability", status=400)  # not retried: exactly one day fails
    data = {"supplierId": "keyloop-leeds", "date": "2027-01-12", "days": 2, "serviceTypes": ["MOT"]}
    assert harness.call("getAvailability", data).ok  # one day failed, one did not
    harness.call("cancelBooking", {"enquiryId": "nope"})
    first, second = _finished_lines(capsys.readouterr().out)
    assert first["outcome"] == "ok"
    statuses = sorted(
        c["status"] for c in first["keyloopCalls"] if c["operation"] == "availability"
    )
    assert statuses == [200, 400]  # the worker thread's call is on the same line
    assert (second["callable"], second["outcome"]) == ("cancelBooking", "error")
    assert (second["reason"], second["enquiryId"]) == ("ENQUIRY_NOT_FOUND", "nope")


def test_an_unexpected_error_is_logged_with_its_stack_and_nothing_personal(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    personal = "ada@example.com +44 7700 900123 AB12 CDE"  # a message quoting the request

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(personal)

    monkeypatch.setattr("visn.records.enquiries.new_id", broken)
    outcome = harness.call("createBooking", booking())
    assert (outcome.status, outcome.reason) == ("INTERNAL", "INTERNAL")
    captured = capsys.readouterr()
    out = captured.out + captured.err
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    (line,) = [x for x in lines if x.get("message") == "callable failed unexpectedly"]
    assert line["severity"] == "ERROR"
    assert line["error"] == "RuntimeError"
    stack = line["stack"]
    assert "visn/saga/booking.py" in stack, "the frame where it was raised from"
    assert "in broken" in stack
    assert "builtins.RuntimeError" in stack
    for secret in ("ada@example.com", "7700", "AB12", "Lovelace", "Bearer"):
        assert secret not in out, f"{secret!r} in the log"
