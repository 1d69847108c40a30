"""Verdicts by thresholds, the scheduler's claim, history retention, label-made checks and recreation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.containers.inventory import apply_events
from apps.core.models import Event
from apps.core.schedules import DEFAULT_SCHEDULES
from apps.hosts.engines import engine_for
from apps.monitors import services
from apps.monitors.models import CheckResult, HealthCheck
from apps.monitors.signals import check_status_changed
from dockmon_agent.engine.base import DockerEvent
from tests.fixtures import Route, synced

pytestmark = pytest.mark.django_db


@pytest.fixture
def verdicts():
    heard = []

    def listen(sender, check, healthy, error, **kwargs):
        heard.append((sender, check.pk, healthy, error))

    check_status_changed.connect(listen)
    yield heard
    check_status_changed.disconnect(listen)


def test_thresholds_decide_the_verdict_and_changes_are_announced(
    http_server, make_check, verdicts, django_capture_on_commit_callbacks
):
    http_server.routes["/h"] = Route(200)
    check = make_check(f"{http_server.url}/h", failure_threshold=2, success_threshold=2)
    with django_capture_on_commit_callbacks(execute=True):
        services.run_check(check)
        assert HealthCheck.objects.get(pk=check.pk).status == "unknown"  # 1 of 2 successes
        services.run_check(check)
        assert HealthCheck.objects.get(pk=check.pk).status == "healthy"
        assert verdicts == []  # a first verdict of healthy is no news

        http_server.routes["/h"] = Route(500)
        services.run_check(check)
        assert HealthCheck.objects.get(pk=check.pk).status == "healthy"  # 1 of 2 failures
        services.run_check(check)
    check.refresh_from_db()
    assert (check.status, check.consecutive_failures, check.last_status_code) == ("unhealthy", 2, 500)
    assert check.last_error == "Status 500, expected 200-299."
    assert verdicts == [(HealthCheck, check.pk, False, "Status 500, expected 200-299.")]
    event = Event.objects.get(action="monitors.unhealthy")
    assert event.actor_kind == "system" and event.target_name == "web" and "Status 500" in event.message
    assert CheckResult.objects.filter(health_check=check).count() == 4


def test_claiming_a_due_check_happens_once_even_when_dispatched_twice(make_check):
    now = timezone.now()
    check = make_check("http://127.0.0.1:9/", next_check_at=now - timedelta(seconds=1), interval_seconds=30)
    make_check("http://127.0.0.1:9/later", next_check_at=now + timedelta(minutes=10))
    make_check("http://127.0.0.1:9/off", next_check_at=now - timedelta(seconds=1), enabled=False)
    # Two beats (or workers) that both saw the check due: only one conditional UPDATE wins.
    due_at = check.next_check_at
    assert services.claim(check.pk, due_at, 30, now=now) is True
    assert services.claim(check.pk, due_at, 30, now=now) is False
    check.refresh_from_db()
    assert check.next_check_at == now + timedelta(seconds=30)
    # The beat task's own path: due again later, claimed by the first dispatch only.
    later = now + timedelta(seconds=31)
    assert services.claim_due(now=later) == {check.pk: 30}
    assert services.claim_due(now=later) == {}


def test_results_older_than_seven_days_are_purged(make_check):
    check = make_check("http://127.0.0.1:9/")
    now = timezone.now()
    for age in (timedelta(days=8), timedelta(days=7, minutes=1), timedelta(days=6), timedelta(0)):
        CheckResult.objects.create(health_check=check, checked_at=now - age, ok=True)
    assert services.purge_results(now=now) == 2
    assert sorted(CheckResult.objects.values_list("checked_at", flat=True)) == [
        now - timedelta(days=6),
        now,
    ]


def test_a_misconfigured_stored_check_fails_with_a_reason(make_check):
    check = make_check("http://127.0.0.1:9/", expected_statuses="abc")
    result = services.run_check(check)
    assert not result.ok and result.error.startswith("The check is misconfigured: “abc” is not a status code")


LABEL = "dockmon.healthcheck.url"


@pytest.fixture
def synced_now(django_capture_on_commit_callbacks):
    """Sync, with the receivers of containers_synced (sent after commit) run at once."""

    def sync(host, name):
        with django_capture_on_commit_callbacks(execute=True):
            return synced(host, name)

    return sync


def test_a_label_creates_updates_and_removes_its_check(local_host, run_container, synced_now, client_for, viewer):
    first = run_container(name="api", labels={LABEL: "http://127.0.0.1:8080/health"})
    row = synced_now(local_host, first.name)
    check = HealthCheck.objects.get(container=row)
    assert (check.url, check.from_label, check.interval_seconds, check.failure_threshold) == (
        "http://127.0.0.1:8080/health",
        True,
        60,
        3,
    )
    user_made = HealthCheck.objects.create(container=row, url="http://127.0.0.1:8080/other")

    # Docker cannot change labels in place: the container is recreated with the new label.
    first.remove(force=True)
    second = run_container(name="api", labels={LABEL: "http://127.0.0.1:9090/ready"})
    synced_now(local_host, second.name)
    check.refresh_from_db()
    assert check.url == "http://127.0.0.1:9090/ready"

    second.remove(force=True)
    run_container(name="api")  # no label any more
    synced_now(local_host, second.name)
    assert list(HealthCheck.objects.filter(container=row)) == [user_made]  # only the label's check goes
    actions = list(
        Event.objects.filter(category="monitors", actor_kind="system").order_by("id").values_list("action", flat=True)
    )
    assert actions == ["monitors.check_create", "monitors.check_update", "monitors.check_delete"]
    assert Event.objects.get(action="monitors.check_delete").details["check"] == check.pk
    page = client_for(viewer).get(f"/containers/{row.pk}/").content.decode()
    assert "Deleted health check" in page


def test_a_label_that_is_not_http_makes_no_check(local_host, run_container, synced_now):
    c = run_container(name="odd", labels={LABEL: "ftp://127.0.0.1/"})
    row = synced_now(local_host, c.name)
    assert not HealthCheck.objects.filter(container=row).exists()


def test_a_check_follows_its_container_across_recreation(local_host, run_container, http_server):
    http_server.routes["/h"] = Route(200)
    old = run_container(name="svc")
    row = synced(local_host, old.name)
    check = HealthCheck.objects.create(container=row, url=f"{http_server.url}/h")
    services.run_check(check)
    old.remove(force=True)
    synced(local_host, old.name)
    assert HealthCheck.objects.get(pk=check.pk).container.is_removed  # kept while the name is gone

    new = run_container(name="svc")
    again = synced(local_host, new.name)
    assert again.pk == row.pk and again.docker_id == new.id != old.id
    check.refresh_from_db()
    assert check.container_id == row.pk and check.status == "healthy"
    assert check.results.count() == 1


def test_a_labelled_container_started_later_gets_its_check_from_the_event(local_host, run_container):
    c = run_container(name="late", labels={LABEL: "https://127.0.0.1:8443/ready"})
    with engine_for(local_host) as engine:
        apply_events(local_host, engine, [DockerEvent("start", c.id, c.name, timezone.now())])
    check = HealthCheck.objects.get(container__name=c.name)
    assert (check.url, check.from_label, check.status) == ("https://127.0.0.1:8443/ready", True, "unknown")


def test_beat_runs_the_dispatcher_every_five_seconds_and_purges_hourly():
    schedules = {s.task: s for s in DEFAULT_SCHEDULES}
    assert schedules["monitors.dispatch"].every_seconds == 5
    assert schedules["monitors.purge_results"].crontab == {"minute": "41"}
