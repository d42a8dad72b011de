"""Availability parsing and Keyloop's time formats: every assumed shape, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from keyloop import KeyloopConfigurationError, KeyloopSettings, Slot, parse_availability
from keyloop.availability import AvailabilityShapeError
from keyloop.times import format_time, parse_time

NINE = datetime(2027, 1, 12, 9, 0, tzinfo=UTC)
TEN = datetime(2027, 1, 12, 10, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    "body",
    [
        [{"dueInDateTime": "2027-01-12T09:00:00.000Z", "dueOutDateTime": "2027-01-12T10:00:00Z"}],
        {
            "availableSlots": [
                {"startDateTime": "2027-01-12T09:00:00Z", "endDateTime": "2027-01-12T10:00:00Z"}
            ]
        },
        {"slots": [{"start": "2027-01-12T09:00:00+00:00", "end": "2027-01-12T10:00:00+00:00"}]},
        {"items": [{"start": "2027-01-12T09:00:00Z", "end": "2027-01-12T10:00:00Z"}]},
        {
            "availability": [
                {"start": "2027-01-12T10:00:00+01:00", "end": "2027-01-12T11:00:00+01:00"}
            ]
        },
    ],
)
def test_known_shapes(body: Any) -> None:
    assert parse_availability(body) == [Slot(NINE, TEN)]


def test_full_slots_skipped_and_end_optional() -> None:
    body = {
        "availableSlots": [
            {"start": "2027-01-12T08:00:00Z", "available": False},
            {"start": "2027-01-12T08:30:00Z", "capacity": 0},
            {"start": "2027-01-12T09:00:00Z", "capacity": 2},
        ]
    }
    assert parse_availability(body) == [Slot(NINE, None)]


def test_local_times_store() -> None:
    body = [{"start": "2027-07-13T09:00:00.000Z"}]
    (slot,) = parse_availability(body, LONDON)
    assert slot.start == datetime(2027, 7, 13, 8, 0, tzinfo=UTC)  # 09:00 BST


@pytest.mark.parametrize(
    "body",
    [
        {"data": []},
        "slots",
        None,
        [1, 2],
        [{"end": "2027-01-12T10:00:00Z"}],
        [{"start": 1700000000}],
        [{"start": "tomorrow"}],
        {"slots": {"start": "2027-01-12T09:00:00Z"}},
    ],
)
def test_anything_else_is_a_shape_error(body: Any) -> None:
    with pytest.raises(AvailabilityShapeError):
        parse_availability(body)


def test_time_round_trip_both_modes() -> None:
    assert format_time(NINE, None) == "2027-01-12T09:00:00.000Z"
    summer = datetime(2027, 7, 13, 8, 0, tzinfo=UTC)
    assert format_time(summer, LONDON) == "2027-07-13T09:00:00.000Z"
    assert parse_time("2027-07-13T09:00:00.000Z", LONDON) == summer
    assert parse_time("2027-07-13T09:00:00Z", None) == datetime(2027, 7, 13, 9, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2027, 1, 1), None)


@pytest.mark.parametrize(
    "url", ["", "   ", "ftp://x", "keyloop.io", "http://api.eu.keyloop.io", "https://h/?q=1"]
)
def test_bad_base_url_is_configuration_error(url: str) -> None:
    with pytest.raises(KeyloopConfigurationError):
        KeyloopSettings(url)


def test_base_url_normalised() -> None:
    assert KeyloopSettings("https://api.eu.keyloop.io/").base_url == "https://api.eu.keyloop.io"
    assert KeyloopSettings("http://127.0.0.1:8080").base_url == "http://127.0.0.1:8080"
