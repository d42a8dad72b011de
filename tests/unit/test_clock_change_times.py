"""Wire times on the days the clocks change, for stores that write local wall-clock time: the
client (`keyloop.times`, availability parsing) and the sandbox (`keyloop_sandbox.times`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from keyloop.availability import parse_availability
from keyloop.times import NonexistentLocalTimeError, format_time, parse_time
from keyloop_sandbox.config import StoreConfig
from keyloop_sandbox.times import format_instant, parse_instant, slots_for_date

ZONES = pytest.mark.parametrize("zone", [ZoneInfo("Europe/London"), ZoneInfo("Europe/Dublin")])
# 2027-10-31 00:00 summer time (23:00 UTC the day before) to 04:00 winter time: 29 hours of
# half-hours in UTC around the autumn change; the same around the spring one.
AUTUMN = [datetime(2027, 10, 30, 22, tzinfo=UTC) + timedelta(minutes=30 * k) for k in range(14)]
SPRING = [datetime(2027, 3, 27, 23, tzinfo=UTC) + timedelta(minutes=30 * k) for k in range(10)]


@ZONES
def test_every_instant_round_trips_in_local_mode(zone: ZoneInfo) -> None:
    texts = [format_time(i, zone) for i in AUTUMN + SPRING]
    assert [parse_time(t, zone) for t in texts] == AUTUMN + SPRING
    assert len(set(texts)) == len(texts)  # never the same text for two instants
    assert texts[4:8] == [
        "2027-10-31T01:00:00.000+01:00",
        "2027-10-31T01:30:00.000+01:00",
        "2027-10-31T01:00:00.000+00:00",
        "2027-10-31T01:30:00.000+00:00",
    ]
    assert texts[3] == "2027-10-31T00:30:00.000Z"  # outside the repeated hour: as before
    assert texts[8] == "2027-10-31T02:00:00.000Z"


@ZONES
def test_a_bare_repeated_time_is_its_first_occurrence_and_a_skipped_one_is_refused(
    zone: ZoneInfo,
) -> None:
    assert parse_time("2027-10-31T01:30:00.000Z", zone) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    with pytest.raises(NonexistentLocalTimeError):
        parse_time("2027-03-28T01:30:00.000Z", zone)
    # Real-UTC stores are untouched: 01:30Z is 01:30 UTC on both days.
    assert parse_time("2027-03-28T01:30:00.000Z", None) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


@ZONES
def test_availability_never_offers_a_slot_in_the_skipped_hour(zone: ZoneInfo) -> None:
    body = {
        "availableSlots": [
            {"dueInDateTime": "2027-03-28T00:30:00.000Z", "dueOutDateTime": "2027-03-28T01:30Z"},
            {"dueInDateTime": "2027-03-28T01:30:00.000Z"},
            {"dueInDateTime": "2027-03-28T02:00:00.000Z"},
        ]
    }
    slots = parse_availability(body, zone)
    assert [s.start for s in slots] == [
        datetime(2027, 3, 28, 0, 30, tzinfo=UTC),
        datetime(2027, 3, 28, 1, 0, tzinfo=UTC),
    ]
    assert slots[0].end is None  # an end that does not exist is left to the caller's default


def night_store(timezone: str) -> StoreConfig:
    return StoreConfig(
        "E",
        "S",
        timezone=timezone,
        open_time=time(0, 0),
        close_time=time(4, 0),
        weekdays=frozenset(range(7)),
        slot_minutes=30,
        local_times=True,
    )


@pytest.mark.parametrize("timezone", ["Europe/London", "Europe/Dublin"])
def test_the_sandbox_offers_every_real_slot_and_no_invented_one(timezone: str) -> None:
    store = night_store(timezone)
    autumn = slots_for_date(store, date(2027, 10, 31))
    assert [s.start for s in autumn] == AUTUMN[2:12]  # 5 real hours: both 01:xx hours
    spring = slots_for_date(store, date(2027, 3, 28))
    assert [s.start for s in spring] == SPRING[2:8]  # 3 real hours: nothing in 01:xx
    ordinary = slots_for_date(store, date(2027, 10, 30))
    assert len(ordinary) == 8
    for day in (autumn, spring, ordinary):
        assert all(a.end == b.start for a, b in pairwise(day))
        for slot in day:
            assert parse_instant(format_instant(slot.start, store), store) == slot.start
    assert [format_instant(s.start, store) for s in autumn[2:6]] == [
        "2027-10-31T01:00:00.000+01:00",
        "2027-10-31T01:30:00.000+01:00",
        "2027-10-31T01:00:00.000+00:00",
        "2027-10-31T01:30:00.000+00:00",
    ]
    with pytest.raises(ValueError, match="skipped"):
        parse_instant("2027-03-28T01:30:00.000Z", store)
    assert parse_instant("2027-10-31T01:30:00.000Z", store) == AUTUMN[5]  # first occurrence


def test_opening_hours_stay_wall_clock_on_both_sides_of_a_change() -> None:
    store = StoreConfig("E", "S")  # 08:00-17:00 London, hourly
    for day in (date(2027, 3, 27), date(2027, 3, 29), date(2027, 10, 30), date(2027, 11, 1)):
        slots = slots_for_date(store, day)
        local = [s.start.astimezone(store.zone).strftime("%H:%M") for s in slots]
        assert local == [f"{h:02d}:00" for h in range(8, 17)]
