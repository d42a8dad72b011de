"""No dealer change dropped on a conflict (issue 21): a lost conditional write reads again and
applies again, for events and the polling sync; one enquiry's failure does not end a run.
Against the Firestore emulator, with the sandbox posting its CloudEvents over a socket."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tests.functions.events_endpoint import EventsEndpoint
from tests.functions.harness import Harness, firestore_outage
from tests.functions.test_cancel_rearrange import booked
from tests.functions.test_dms_sync import _book_many
from tests.functions.test_keyloop_events import answered, dealer, deliveries, enquiry
from visn.records import dms_view as readback
from visn.records.dms_view import DmsView
from visn.sync import applying
from visn.sync import events as events_module
from visn.sync.names import EVENT_RECEIPTS
from visn.sync.polling import ITEM_FAILED_MESSAGE, SyncSettings, sync

GATE_TIMEOUT = 20.0


class Interleaving:
    """Orders two concurrent event handlers in this process: each handler's first conditional
    write waits for its gate, named by what that handler read back (LIVE or CANCELLED)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.read = {"LIVE": threading.Event(), "CANCELLED": threading.Event()}
        self.gate = {"LIVE": threading.Event(), "CANCELLED": threading.Event()}
        self.committed = {"LIVE": threading.Event(), "CANCELLED": threading.Event()}
        self.reads: list[str] = []
        self._mine = threading.local()
        real_look, real_commit = readback.look, applying.commit

        def look(store: Any, appointment_id: str) -> DmsView:
            view = real_look(store, appointment_id)
            self._mine.state = view.state.value
            self.reads.append(view.state.value)
            self.read[view.state.value].set()
            return view

        def commit(batch: Any) -> None:
            state = getattr(self._mine, "state", None)
            first = not getattr(self._mine, "committed", False)
            self._mine.committed = True
            if first and state in self.gate:
                assert self.gate[state].wait(GATE_TIMEOUT), f"{state} write never let go"
            try:
                real_commit(batch)
            finally:
                if first and state in self.committed:
                    self.committed[state].set()

        monkeypatch.setattr(events_module, "look", look)
        monkeypatch.setattr(applying, "commit", commit)

    def let(self, state: str) -> None:
        self.gate[state].set()
        assert self.committed[state].wait(GATE_TIMEOUT), f"{state} write never ended"


@pytest.mark.parametrize("first_write", ["LIVE", "CANCELLED"])
def test_concurrent_move_then_cancel_events_end_cancelled_whatever_the_order(
    harness: Harness,
    events: EventsEndpoint,
    monkeypatch: pytest.MonkeyPatch,
    first_write: str,
) -> None:
    created = booked(harness)
    answered(harness, 1)  # our own create, seen back
    order = Interleaving(monkeypatch)
    # The move's event reads the moved repair order, then holds its write...
    dealer(harness, created["appointmentId"], "move", {"dueInDateTime": "2027-01-12T14:00:00.000Z"})
    assert order.read["LIVE"].wait(GATE_TIMEOUT)
    # ...while the dealer cancels and the cancel's event reads that back too.
    dealer(harness, created["appointmentId"], "cancel")
    assert order.read["CANCELLED"].wait(GATE_TIMEOUT)
    second = "CANCELLED" if first_write == "LIVE" else "LIVE"
    order.let(first_write)
    order.let(second)
    answered(harness, 3)

    after = enquiry(harness, created["enquiryId"])
    assert after["status"] == "CANCELLED"
    actions = [h["action"] for h in after["history"]]
    if first_write == "LIVE":  # the move won, the cancel read again and applied on top
        assert actions == ["BOOKED", "MOVED_IN_DMS", "CANCELLED_IN_DMS"]
        assert order.reads == ["LIVE", "CANCELLED", "CANCELLED"]
    else:  # the cancel won; the move read the enquiry again: cancelled, nothing to do
        assert actions == ["BOOKED", "CANCELLED_IN_DMS"]
        assert order.reads == ["LIVE", "CANCELLED"]
    assert [d["outcome"] for d in deliveries(harness)] == [204, 204, 204]  # none redelivered
    assert len(harness.docs(EVENT_RECEIPTS)) == 2  # the move's and the cancel's, both kept


def test_an_event_that_loses_every_write_asks_for_redelivery(
    harness: Harness, events: EventsEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = booked(harness)
    answered(harness, 1)
    monkeypatch.setattr(applying, "SETTLE_ATTEMPTS", 1)  # one try: its loss is final
    order = Interleaving(monkeypatch)
    dealer(harness, created["appointmentId"], "move", {"dueInDateTime": "2027-01-12T14:00:00.000Z"})
    assert order.read["LIVE"].wait(GATE_TIMEOUT)
    dealer(harness, created["appointmentId"], "cancel")
    assert order.read["CANCELLED"].wait(GATE_TIMEOUT)
    order.let("LIVE")
    order.gate["CANCELLED"].set()
    # The cancel's write lost: 503, its receipt taken back; Keyloop's redelivery applies it.
    answered(harness, 3)
    outcomes = [d["outcome"] for d in deliveries(harness)]
    assert sorted(outcomes) == [204, 204, 204, 503], outcomes
    history = [h["action"] for h in enquiry(harness, created["enquiryId"])["history"]]
    assert history == ["BOOKED", "MOVED_IN_DMS", "CANCELLED_IN_DMS"]


def test_a_lost_conditional_write_in_polling_is_applied_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = booked(harness)  # no subscription: the dealer's event never arrives
    dealer(harness, created["appointmentId"], "move", {"dueInDateTime": "2027-01-12T15:00:00.000Z"})
    reference = harness.db.collection("enquiries").document(created["enquiryId"])
    real_commit = applying.commit
    calls: list[int] = []

    def commit(batch: Any) -> None:
        if not calls:  # ViSN edits the enquiry between the sync's read and its write
            reference.update({"visnEdit": 1})
        calls.append(1)
        real_commit(batch)

    monkeypatch.setattr(applying, "commit", commit)
    report = sync(SyncSettings(force=True))
    assert (report.outcomes, report.failed, len(calls)) == ({"MOVED": 1}, 0, 2)
    assert report.keyloop_reads == 2  # asked the DMS again: the first view may be stale
    after = harness.doc("enquiries", created["enquiryId"])
    assert after is not None
    assert after["slot"]["start"] == "2027-01-12T15:00:00+00:00"
    assert after["visnEdit"] == 1  # ViSN's edit is kept, not overwritten
    assert [h["action"] for h in after["history"]] == ["BOOKED", "MOVED_IN_DMS"]


def test_a_sync_run_with_one_enquirys_write_failing_handles_the_others(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    made = _book_many(harness, 3)
    for start, _, appointment_id in made:
        moved = start.replace(hour=start.hour + 1)
        dealer(
            harness, appointment_id, "move", {"dueInDateTime": f"{moved:%Y-%m-%dT%H:%M:%S}.000Z"}
        )
    broken = made[1][1]
    real_commit = applying.commit

    def commit(batch: Any) -> None:
        if any(broken in write.update.name for write in batch._write_pbs):
            raise firestore_outage("enquiry write failed")
        real_commit(batch)

    monkeypatch.setattr(applying, "commit", commit)
    capfd.readouterr()
    report = sync()
    assert (report.looked, report.outcomes, report.failed, report.item_failures) == (
        3,
        {"MOVED": 2},
        1,
        1,
    )
    assert sorted(report.changed) == sorted([made[0][1], made[2][1]])
    out = capfd.readouterr()
    lines = [json.loads(x) for x in (out.out + out.err).splitlines() if x.startswith("{")]
    failed = [x for x in lines if x.get("message") == ITEM_FAILED_MESSAGE]
    assert [(x["severity"], x["enquiryId"], x["error"]) for x in failed] == [
        ("ERROR", broken, "ServiceUnavailable")
    ]
    finished = [x for x in lines if x.get("message") == "dms sync run finished"]
    assert finished
    assert finished[0]["itemFailures"] == 1

    monkeypatch.setattr(applying, "commit", real_commit)
    again = sync()  # the same moment: only the one that failed is still due
    assert (again.looked, again.changed) == (1, [broken])
