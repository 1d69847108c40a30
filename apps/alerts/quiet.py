"""Quiet hours: weekly windows, in DockMon's time zone, during which notifications wait.

One window per line: days, then a time range. Days are `daily`, `weekdays`, `weekends`, a day (`Mon`,
`Monday`), a list (`Sat,Sun`) or a range (`Mon-Fri`, `Fri-Mon`). A range ending earlier than it starts
crosses midnight: `Fri 22:00-07:00` runs from Friday 22:00 to Saturday 07:00. `24:00` ends a day.
Pure code: no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_GROUPS = {
    "daily": tuple(range(7)),
    "everyday": tuple(range(7)),
    "weekdays": tuple(range(5)),
    "weekends": (5, 6),
}
EXAMPLE = "Mon-Fri 22:00-07:00"
_SPACED_SEPARATOR = re.compile(r"\s*([-,])\s*")  # "Sat, Sun 22:00 - 07:00" reads as "Sat,Sun 22:00-07:00"


@dataclass(frozen=True)
class QuietWindow:
    days: tuple[int, ...]  # 0 = Monday, in the order written
    start: int  # minutes after midnight
    end: int  # minutes after midnight, 1..1440; not after `start` means the next day

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def intervals(self) -> list[tuple[int, int]]:
        """(start, end) in minutes from Monday 00:00; an end may pass the end of the week."""
        length = self.end - self.start if not self.crosses_midnight else MINUTES_PER_DAY - self.start + self.end
        return [(day * MINUTES_PER_DAY + self.start, day * MINUTES_PER_DAY + self.start + length) for day in self.days]

    def __str__(self) -> str:
        return f"{_day_list(self.days)} {_clock(self.start)}-{_clock(self.end)}"


def _day_list(days: tuple[int, ...]) -> str:
    """“daily”, “Mon-Fri”, “Sat,Sun”, “Mon-Wed,Fri”: runs of three or more days as ranges."""
    if len(set(days)) == 7:
        return "daily"
    runs: list[list[int]] = []
    for day in sorted(set(days)):
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(
        f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}" if len(run) > 2 else ",".join(DAY_NAMES[d] for d in run)
        for run in runs
    )


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _day(word: str) -> int | None:
    word = word.strip().lower()
    for index, name in enumerate(_FULL_DAY_NAMES):
        if len(word) >= 3 and name.startswith(word):
            return index
    return None


def _days(text: str) -> tuple[int, ...] | None:
    text = text.strip().lower()
    if text in _DAY_GROUPS:
        return _DAY_GROUPS[text]
    days: list[int] = []
    for part in text.split(","):
        first, dash, last = part.partition("-")
        start, end = _day(first), _day(last) if dash else _day(first)
        if start is None or end is None:
            return None
        span = (end - start) % 7  # Fri-Mon wraps over the weekend
        days.extend((start + offset) % 7 for offset in range(span + 1) if (start + offset) % 7 not in days)
    return tuple(days)


def _minutes(text: str, *, is_end: bool) -> int | None:
    hours, colon, minutes = text.strip().partition(":")
    if not colon or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        return None
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > MINUTES_PER_DAY or (value == MINUTES_PER_DAY and not is_end):
        return None
    return value


def _window(line: str) -> QuietWindow:
    days_text, _, times = line.rpartition(" ")
    start_text, dash, end_text = times.partition("-")
    days = _days(days_text) if days_text.strip() else None
    if days is None:
        raise ValueError("it does not start with days such as “Mon-Fri”, “Sat,Sun” or “daily”")
    start, end = _minutes(start_text, is_end=False), _minutes(end_text, is_end=True)
    if not dash or start is None or end is None:
        raise ValueError("it does not end with a time range such as “22:00-07:00” (24-hour clock, “24:00” ends a day)")
    if start == end % MINUTES_PER_DAY and end != MINUTES_PER_DAY:
        raise ValueError("it starts and ends at the same time; write “00:00-24:00” for a whole day")
    return QuietWindow(days=days, start=start, end=end)


def parse_quiet_hours(text: str) -> list[QuietWindow]:
    """Windows from the rule's text, one per non-blank line. A ValidationError names the first bad line."""
    windows: list[QuietWindow] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _SPACED_SEPARATOR.sub(r"\1", " ".join(raw.split()))
        if not line:
            continue
        try:
            windows.append(_window(line))
        except ValueError as problem:
            raise ValidationError(
                f"Quiet hours line {number} “{line}” is not understood: {problem}. Example: “{EXAMPLE}”."
            ) from None
    # With a gap somewhere, no joined interval can last a week.
    if any(end - start >= MINUTES_PER_WEEK for start, end in _merged(windows)):
        raise ValidationError("These quiet hours cover the whole week, so no notification would ever be sent.")
    return windows


def _merged(windows: list[QuietWindow]) -> list[tuple[int, int]]:
    """All windows over the previous, this and the next week, sorted, overlapping or touching ones joined."""
    intervals = sorted(
        (start + week, end + week)
        for window in windows
        for start, end in window.intervals()
        for week in (-MINUTES_PER_WEEK, 0, MINUTES_PER_WEEK)
    )
    merged: list[tuple[int, int]] = []
    for start, end in intervals:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def quiet_until(windows_or_text: list[QuietWindow] | str, now: datetime) -> datetime | None:
    """When `now` (aware) falls in quiet hours: the aware time (DockMon's zone) they end, else None.

    Windows are read on the wall clock, so “22:00-07:00” means 07:00 local time also across DST changes.
    """
    windows = parse_quiet_hours(windows_or_text) if isinstance(windows_or_text, str) else windows_or_text
    if not windows:
        return None
    local = now.astimezone(zone())
    position = local.weekday() * MINUTES_PER_DAY + local.hour * 60 + local.minute + local.second / 60
    for start, end in _merged(windows):
        if start <= position < end:
            monday = datetime.combine(local.date() - timedelta(days=local.weekday()), time())
            return (monday + timedelta(minutes=end)).replace(tzinfo=zone())
    return None
