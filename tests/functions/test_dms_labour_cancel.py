"""A cancel made in the DMS the way Keyloop's own adapter detects it (the repair order stays
`CREATED`, its labour is no longer `BOOKED`) reaches the enquiry: by Keyloop's event, and by
the polling sync when the event is dropped. Sandbox over sockets, Firestore emulator."""

from __future__ import annotations

from tests.functions.events_endpoint import EventsEndpoint, wait_for
from tests.functions.harness import Harness
from tests.functions.test_cancel_rearrange import booked
from tests.functions.test_keyloop_events import answered, dealer, enquiry
from visn.sync.polling import SyncSettings, sync


def unbooked_in_the_dms(harness: Harness, appointment_id: str) -> None:
    dealer(harness, appointment_id, "unbook")
    appointment = next(a for a in harness.appointments() if a["appointmentId"] == appointment_id)
    assert (appointment["repairOrderStatus"], appointment["labourStatus"]) == (
        "CREATED",
        "CANCELLED",
    )


def test_a_labour_only_cancel_reaches_the_enquiry_by_event(
    harness: Harness, events: EventsEndpoint
) -> None:
    created = booked(harness)
    answered(harness, 1)
    unbooked_in_the_dms(harness, created["appointmentId"])
    answered(harness, 2)
    after = enquiry(harness, created["enquiryId"])
    assert after["status"] == "CANCELLED"
    entry = after["history"][-1]
    assert (entry["action"], entry["via"], entry["dmsStatus"]) == (
        "CANCELLED_IN_DMS",
        "EVENT",
        "CREATED",  # the repair order's own status never said so
    )
    cancels = harness.upstream_counts()["cancel"]
    assert harness.call("cancelBooking", {"enquiryId": created["enquiryId"]}).ok
    assert harness.upstream_counts()["cancel"] == cancels  # nothing left to cancel upstream


def test_a_labour_only_cancel_with_its_event_dropped_is_caught_by_the_sync(
    harness: Harness, events: EventsEndpoint
) -> None:
    created = booked(harness)
    answered(harness, 1)
    harness.sandbox_post("events", {"drop": 1})
    unbooked_in_the_dms(harness, created["appointmentId"])
    wait_for(lambda: harness.sandbox_get("events")["deliveries"][-1]["outcome"] == "dropped")
    assert enquiry(harness, created["enquiryId"])["status"] == "BOOKED"

    report = sync(SyncSettings(force=True, max_reads=500))
    assert (report.looked, report.outcomes) == (1, {"CANCELLED": 1})
    after = enquiry(harness, created["enquiryId"])
    assert after["status"] == "CANCELLED"
    entry = after["history"][-1]
    assert (entry["action"], entry["via"], entry["dmsStatus"]) == (
        "CANCELLED_IN_DMS",
        "SYNC",
        "CREATED",
    )
    again = sync(SyncSettings(force=True, max_reads=500))
    assert again.looked == 0  # no longer BOOKED: nothing more to follow
