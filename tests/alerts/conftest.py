"""Fixtures of the alert tests: a channel posting JSON to the recording HTTP server on 127.0.0.1, and rules
notifying it."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from apps.alerts.models import AlertRule
from apps.notifications.models import Channel
from tests.fixtures import RecordingServer


@pytest.fixture
def channel(db, http_server: RecordingServer) -> Channel:
    """A "webhook" channel posting JSON to the recording HTTP server, stored as the notifications app stores it."""
    return Channel.objects.create(
        name="ops-hook", kind="webhook", config=json.dumps({"url": f"{http_server.url}/hook", "headers": ""})
    )


@pytest.fixture
def make_rule(db, channel: Channel, docker_prefix: str) -> Callable[..., AlertRule]:
    """A rule notifying the webhook channel, watching only this test's containers (the daemon is shared)."""

    def make(kind: str, *, channels: list[Channel] | None = None, **fields) -> AlertRule:
        fields.setdefault("name", f"{kind} rule")
        if kind not in ("host_offline", "host_cpu", "host_memory", "host_disk"):
            fields.setdefault("name_pattern", f"{docker_prefix}*")
        rule = AlertRule.objects.create(kind=kind, **fields)
        rule.channels.set([channel] if channels is None else channels)
        return rule

    return make


@pytest.fixture
def fast_grace(settings) -> None:
    settings.ALERTS_STOP_GRACE_SECONDS = 1
