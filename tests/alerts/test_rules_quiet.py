from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from apps.alerts.quiet import QuietWindow, parse_quiet_hours, quiet_until
from tests.fixtures import refusal

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(autouse=True)
def _berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


def at(text: str) -> datetime:
    """A Berlin wall-clock time; 2025-01-06 is a Monday."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def test_parses_days_ranges_lists_and_daily():
    windows = parse_quiet_hours("Mon-Fri 22:00-07:00\n\nSat, Sun 00:00 - 24:00\ndaily 23:00-06:30\nfri-mon 12:00-13:00")
    assert windows == [
        QuietWindow(days=(0, 1, 2, 3, 4), start=22 * 60, end=7 * 60),
        QuietWindow(days=(5, 6), start=0, end=24 * 60),
        QuietWindow(days=tuple(range(7)), start=23 * 60, end=6 * 60 + 30),
        QuietWindow(days=(4, 5, 6, 0), start=12 * 60, end=13 * 60),
    ]
    assert [str(window) for window in windows] == [
        "Mon-Fri 22:00-07:00",
        "Sat,Sun 00:00-24:00",
        "daily 23:00-06:30",
        "Mon,Fri-Sun 12:00-13:00",
    ]


def test_window_crossing_midnight_ends_the_next_morning():
    # Friday 22:00 starts a window that ends Saturday 07:00.
    assert quiet_until("Fri 22:00-07:00", at("2025-01-10T23:30")) == at("2025-01-11T07:00")
    assert quiet_until("Fri 22:00-07:00", at("2025-01-11T06:59")) == at("2025-01-11T07:00")
    assert quiet_until("Fri 22:00-07:00", at("2025-01-11T07:00")) is None
    assert quiet_until("Fri 22:00-07:00", at("2025-01-10T21:59")) is None
    # Thursday night is not quiet: the window belongs to Friday.
    assert quiet_until("Fri 22:00-07:00", at("2025-01-09T23:00")) is None


def test_sunday_night_wraps_into_monday():
    assert quiet_until("Sun 23:00-01:00", at("2025-01-12T23:15")) == at("2025-01-13T01:00")
    assert quiet_until("Sun 23:00-01:00", at("2025-01-13T00:30")) == at("2025-01-13T01:00")
    assert quiet_until("Sun 23:00-01:00", at("2025-01-13T01:00")) is None


def test_daily_window():
    assert quiet_until("daily 23:00-06:30", at("2025-01-08T02:00")) == at("2025-01-08T06:30")
    assert quiet_until("daily 23:00-06:30", at("2025-01-08T12:00")) is None


def test_adjacent_and_overlapping_windows_merge():
    text = "Sat 00:00-24:00\nSun 00:00-24:00\nMon 00:00-08:00\nMon 07:00-09:00"
    assert quiet_until(text, at("2025-01-11T10:00")) == at("2025-01-13T09:00")


def test_times_are_read_in_the_configured_zone():
    # 21:30 UTC is 22:30 in Berlin in winter: inside "22:00-07:00".
    now = datetime(2025, 1, 6, 21, 30, tzinfo=UTC)
    assert quiet_until("daily 22:00-07:00", now) == at("2025-01-07T07:00")
    assert quiet_until("", now) is None
    assert quiet_until(parse_quiet_hours("daily 22:00-07:00"), now) == at("2025-01-07T07:00")


def test_wall_clock_across_daylight_saving_change():
    # Berlin moves to summer time on 2025-03-30; the window still ends at 07:00 local time.
    assert quiet_until("Sat 22:00-07:00", at("2025-03-29T23:00")) == at("2025-03-30T07:00")
    assert at("2025-03-30T07:00").utcoffset().total_seconds() == 7200


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mon-Fri 22:00-07:00\nMonday evening", "line 2 “Monday evening” is not understood"),
        ("Funday 10:00-11:00", "does not start with days"),
        ("Mon 25:00-26:00", "does not end with a time range"),
        ("Mon 10:00", "does not end with a time range"),
        ("Mon 10:60-11:00", "does not end with a time range"),
        ("Mon 24:00-06:00", "does not end with a time range"),
        ("Mon 10:00-10:00", "starts and ends at the same time"),
        ("daily 00:00-24:00", "cover the whole week"),
        ("daily 12:00-06:00\ndaily 06:00-12:00", "cover the whole week"),
    ],
)
def test_bad_lines_are_named(text, message):
    assert message in refusal(parse_quiet_hours, text)
