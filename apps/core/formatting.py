"""Words for amounts shown to people, shared by pages, notifications and the audit trail."""

from __future__ import annotations

from itertools import pairwise

UNITS = ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"))


def duration_words(seconds: float) -> str:
    """`40 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`: the largest unit and, when it is not zero, the next one."""
    seconds = max(0, round(seconds))
    for (size, unit), (smaller, small_unit) in pairwise(UNITS):
        if seconds >= size:
            whole, rest = divmod(seconds, size)
            part = rest // smaller
            return f"{whole} {unit}" + (f" {part} {small_unit}" if part else "")
    return f"{seconds} s"
