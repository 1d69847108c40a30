"""Restarts of an unhealthy check's container: attempts per episode, the delay between them, the
system-wide cap, and containers DockMon must leave alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.models import Event
from apps.monitors.services import restart_if_due
from tests.dockerenv.image import READY_MARK
from tests.dockerenv.plugin import wait_for_log
from tests.fixtures import synced

pytestmark = pytest.mark.django_db

UNHEALTHY = {"status": "unhealthy", "restart_on_unhealthy": True, "last_error": "Status 500, expected 200-299."}


def test_restarts_wait_their_delay_and_stop_after_the_episodes_attempts(local_host, run_container, make_check):
    c = run_container(name="flaky")
    wait_for_log(c, READY_MARK)
    row = synced(local_host, c.name)
    now = timezone.now()
    check = make_check(
        "http://127.0.0.1:9/",
        container=row,
        restart_attempts=2,
        restart_delay_seconds=120,
        next_restart_at=now,
        **UNHEALTHY,
    )

    assert restart_if_due(check, now=now) is True
    check.refresh_from_db()
    assert (check.restarts_in_episode, check.next_restart_at) == (1, now + timedelta(seconds=120))
    assert restart_if_due(check, now=now + timedelta(seconds=60)) is False  # still waiting
    wait_for_log(c, READY_MARK)
    assert restart_if_due(check, now=now + timedelta(seconds=121)) is True
    check.refresh_from_db()
    assert (check.restarts_in_episode, check.next_restart_at) == (2, None)
    assert restart_if_due(check, now=now + timedelta(hours=1)) is False  # the episode's attempts are used up

    restarts = Event.objects.filter(action="containers.restart", target_id=str(row.pk)).order_by("id")
    assert [e.actor_kind for e in restarts] == ["auto_restart", "auto_restart"]
    assert [e.message.rsplit("; ", 1)[1] for e in restarts] == ["attempt 1 of 2", "attempt 2 of 2"]
    c.reload()
    assert c.status == "running"


def test_a_healthy_check_or_one_without_restarts_restarts_nothing(make_check):
    now = timezone.now()
    healthy = make_check("http://127.0.0.1:9/a", restart_on_unhealthy=True, status="healthy", next_restart_at=now)
    off = make_check("http://127.0.0.1:9/b", **{**UNHEALTHY, "restart_on_unhealthy": False}, next_restart_at=now)
    assert restart_if_due(healthy, now=now) is False
    assert restart_if_due(off, now=now) is False
    assert not Event.objects.filter(action="containers.restart").exists()


def test_a_container_a_user_stopped_is_left_alone(make_check, container_row):
    container_row.stopped_by_user = True
    container_row.save()
    now = timezone.now()
    check = make_check("http://127.0.0.1:9/", next_restart_at=now, **UNHEALTHY)
    assert restart_if_due(check, now=now) is False
    check.refresh_from_db()
    assert check.restarts_in_episode == 0
    assert not Event.objects.filter(action="containers.restart").exists()


def test_the_system_restart_cap_is_recorded_and_ends_the_episode(make_check, container_row):
    for _ in range(12):
        Event.objects.create(
            actor_kind="auto_restart",
            category="containers",
            action="containers.restart",
            target_type="container",
            target_id=str(container_row.pk),
        )
    now = timezone.now()
    check = make_check("http://127.0.0.1:9/", next_restart_at=now, **UNHEALTHY)
    assert restart_if_due(check, now=now) is False
    refused = Event.objects.get(action="monitors.restart_refused")
    assert refused.message == "DockMon already restarted web 12 times in 10 minutes."
    assert refused.severity == "warning" and refused.target_id == str(container_row.pk)
    check.refresh_from_db()
    assert (check.restarts_in_episode, check.next_restart_at) == (3, None)
    assert restart_if_due(check, now=now + timedelta(hours=1)) is False
