"""Fixtures of the auto-restart tests: what the signals said."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.autorestart.signals import restart_gave_up, restart_recovered
from apps.containers.signals import container_events
from tests.fixtures import heard


@pytest.fixture
def seen_events() -> Iterator[list[tuple[int, str]]]:
    """(container pk, action) of every Docker event the inventory announced, after auto-restart handled it."""
    seen: list[tuple[int, str]] = []

    def note(sender, happenings, **kwargs) -> None:
        seen.extend((happening.container.pk, happening.action) for happening in happenings)

    container_events.connect(note, weak=False, dispatch_uid="tests.autorestart.seen")
    yield seen
    container_events.disconnect(dispatch_uid="tests.autorestart.seen")


@pytest.fixture
def gave_up() -> Iterator[list[dict]]:
    with heard(restart_gave_up) as received:
        yield received


@pytest.fixture
def recovered() -> Iterator[list[dict]]:
    with heard(restart_recovered) as received:
        yield received
