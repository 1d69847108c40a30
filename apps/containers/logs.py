"""Container logs: the last lines for a download, and (in consumers.py) a live follow."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs

from apps.containers.models import Container
from apps.hosts.engines import engine_for

DEFAULT_LOG_LINES = 100
MAX_LOG_LINES = 10_000
# re has no timeout: matching only a line's start bounds the work per line for ordinary patterns.
MAX_MATCH_CHARS = 10_000


def log_lines(container: Container, *, tail: int, timestamps: bool) -> Iterator[str]:
    """The last `tail` lines. The connection is opened now, so an unreachable host raises EngineError
    here, before a response starts; the returned iterator closes everything when done."""
    engine = engine_for(container.host)
    try:
        stream = engine.logs(container.docker_id, tail=tail, timestamps=timestamps, follow=False)
    except BaseException:
        engine.close()
        raise

    def lines() -> Iterator[str]:
        try:
            yield from stream
        finally:
            stream.close()
            engine.close()

    return lines()


def line_filter(pattern: str, *, regex: bool, timestamps: bool) -> Callable[[str], bool] | None:
    """The test a line must pass to be sent (None: every line passes). Raises re.error for a bad pattern.

    Text matches case-insensitively anywhere; so does a regular expression (`(?-i:...)` makes it strict).
    With timestamps on, the message after the timestamp is matched, so "2024" does not match every line.
    """
    if not pattern:
        return None
    if regex:
        search = re.compile(pattern, re.IGNORECASE).search

        def matches(text: str) -> bool:
            return search(text) is not None

    else:
        needle = pattern.casefold()

        def matches(text: str) -> bool:
            return needle in text.casefold()

    def keep(line: str) -> bool:
        text = line.partition(" ")[2] if timestamps else line
        return matches(text[:MAX_MATCH_CHARS])

    return keep


@dataclass(frozen=True)
class LogRequest:
    tail: int
    timestamps: bool
    follow: bool
    pattern: str
    regex: bool

    @classmethod
    def from_query(cls, query_string: bytes) -> LogRequest:
        query = {key: values[-1] for key, values in parse_qs(query_string.decode("latin-1")).items()}
        raw_tail = query.get("tail", "")
        tail = int(raw_tail) if raw_tail.isdigit() else DEFAULT_LOG_LINES
        return cls(
            tail=min(max(tail, 1), MAX_LOG_LINES),
            timestamps=query.get("timestamps") == "1",
            follow=query.get("follow", "1") != "0",
            pattern=query.get("filter", ""),
            regex=query.get("regex") == "1",
        )
