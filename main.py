"""Cloud Functions for Firebase: the ViSN Keyloop booking callables, Keyloop's events, and
the scheduled reconciler and DMS sync.

Declarations only; the work is in visn/. Importing this module does no I/O and builds no
client: the emulator and `firebase deploy` import it to discover the functions.
"""

from typing import Any

from firebase_functions import https_fn, scheduler_fn

from visn.entry import api
from visn.entry.runtime import (
    BOOKING_PATH_OPTIONS,
    CALLABLE_OPTIONS,
    EVENTS_OPTIONS,
    RECONCILER_OPTIONS,
    SYNC_OPTIONS,
    callable_entry,
)


@callable_entry
@https_fn.on_call(**BOOKING_PATH_OPTIONS)
def getAvailability(request: https_fn.CallableRequest[Any]) -> Any:  # noqa: N802
    return api.get_availability(request)


@callable_entry
@https_fn.on_call(**CALLABLE_OPTIONS)  # a search: no warm instance kept for it
def findFirstAvailable(request: https_fn.CallableRequest[Any]) -> Any:  # noqa: N802
    return api.find_first_available(request)


@callable_entry
@https_fn.on_call(**BOOKING_PATH_OPTIONS)
def createBooking(request: https_fn.CallableRequest[Any]) -> Any:  # noqa: N802
    return api.create_booking(request)


@callable_entry
@https_fn.on_call(**CALLABLE_OPTIONS)
def cancelBooking(request: https_fn.CallableRequest[Any]) -> Any:  # noqa: N802
    return api.cancel_booking(request)


@callable_entry
@https_fn.on_call(**CALLABLE_OPTIONS)
def rearrangeBooking(request: https_fn.CallableRequest[Any]) -> Any:  # noqa: N802
    return api.rearrange_booking(request)


@scheduler_fn.on_schedule(**RECONCILER_OPTIONS)
def reconcileBookings(event: scheduler_fn.ScheduledEvent) -> None:  # noqa: N802
    api.reconcile(event)


@https_fn.on_request(**EVENTS_OPTIONS)
def keyloopEvents(request: Any) -> Any:  # noqa: N802
    return api.keyloop_events(request)


@scheduler_fn.on_schedule(**SYNC_OPTIONS)
def syncDmsBookings(event: scheduler_fn.ScheduledEvent) -> None:  # noqa: N802
    api.sync_dms_bookings(event)
