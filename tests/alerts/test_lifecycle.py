"""An alert's life through the services and the periodic check: cooldown, acknowledgement, snoozes, quiet
hours, host outages and retention, with real deliveries to a real webhook where notifications go out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.alerts import engine, services
from apps.alerts.models import Alert, AlertComment, AlertSettings
from apps.alerts.quiet import DAY_NAMES
from apps.alerts.services import Target
from apps.alerts.tasks import purge, reconcile
from apps.containers.models import Container
from apps.hosts.models import Host
from apps.hosts.services import host_record_contact, host_record_failure
from apps.notifications.models import Delivery
from dockmon_agent.engine.base import HostUnreachable
from tests.fixtures import wait_until


@pytest.fixture
def exited(local_host) -> Container:
    """A container row that exited with code 3 (what "stopped" alerts are about)."""
    return Container.objects.create(
        host=local_host, name="dm-t-worker", docker_id="abc123", state="exited", exit_code=3, image="busybox"
    )


def fire(rule, container, **context):
    return services.fire(rule, Target.of_container(container), context={"exit_code": 3, **context})


def deliveries(alert, kind=None):
    found = Delivery.objects.filter(alert_id=alert.pk)
    return found.filter(kind=kind) if kind else found


def earlier(alert, seconds: int) -> None:
    """Pretend the alert's last notification went out `seconds` ago."""
    Alert.objects.filter(pk=alert.pk).update(last_notified_at=timezone.now() - timedelta(seconds=seconds))


@pytest.mark.django_db
def test_a_repeat_within_the_cooldown_is_counted_not_notified_and_after_it_is(make_rule, exited):
    rule = make_rule("container_stopped", cooldown_seconds=300)
    alert = fire(rule, exited)
    again = fire(rule, exited)
    assert again.pk == alert.pk and again.occurrences == 2
    assert deliveries(alert).count() == 1
    assert "Cooldown" in again.context["history"][-1]["note"]
    earlier(alert, 301)
    fire(rule, exited)
    assert list(deliveries(alert).values_list("kind", flat=True)) == ["repeat", "fire"]


@pytest.mark.django_db
def test_a_new_alert_right_after_one_resolved_waits_for_the_cooldown(make_rule, exited):
    rule = make_rule("container_stopped", cooldown_seconds=300)
    first = fire(rule, exited)
    services.resolve(first, reason="The container is running again.")
    assert deliveries(first, "resolve").count() == 1
    second = fire(rule, exited)
    assert second.pk != first.pk and not deliveries(second).exists()
    services.resolve(second, reason="The container is running again.")
    assert not deliveries(second).exists()  # no resolve for a fire that never went out
    earlier(first, 301)
    third = fire(rule, exited)
    assert deliveries(third, "fire").count() == 1


@pytest.mark.django_db
def test_an_acknowledged_alert_is_not_renotified_but_its_resolve_is(make_rule, exited, admin):
    rule = make_rule("container_stopped", cooldown_seconds=0)
    alert = services.acknowledge(fire(rule, exited), user=admin)
    fire(rule, exited)
    assert deliveries(alert).count() == 1 and Alert.objects.get(pk=alert.pk).occurrences == 2
    services.resolve(alert, reason="done")
    assert deliveries(alert, "resolve").count() == 1


@pytest.mark.django_db
def test_a_snooze_silences_then_fires_again_while_the_condition_holds(make_rule, exited, admin):
    rule = make_rule("container_stopped", cooldown_seconds=0)
    alert = services.snooze(fire(rule, exited), user=admin, until=timezone.now() + timedelta(hours=1))
    fire(rule, exited)
    assert deliveries(alert).count() == 1
    engine.reconcile(now=timezone.now() + timedelta(minutes=61))
    alert.refresh_from_db()
    assert alert.state == "firing" and alert.snoozed_until is None
    assert deliveries(alert, "fire").count() == 2


@pytest.mark.django_db
def test_a_snoozed_alert_whose_container_runs_again_resolves_instead(make_rule, exited, admin):
    rule = make_rule("container_stopped")
    alert = services.snooze(fire(rule, exited), user=admin, until=timezone.now() + timedelta(hours=1))
    Container.objects.filter(pk=exited.pk).update(state="running", started_at=timezone.now() + timedelta(seconds=1))
    engine.reconcile(now=timezone.now() + timedelta(minutes=61))
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolution == "The container is running again."


@pytest.mark.django_db
def test_a_rule_without_channels_still_records_the_alert(make_rule, exited):
    alert = fire(make_rule("container_stopped", channels=[]), exited)
    assert alert.state == "firing" and not deliveries(alert).exists()
    assert alert.context["history"][-1]["note"] == "Nobody was notified: the rule has no channels."


def quiet_today() -> str:
    return f"{DAY_NAMES[timezone.localtime().weekday()]} 00:00-24:00"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_quiet_hours_defer_the_notification_then_deliver_it_when_they_end(make_rule, exited, http_server):
    rule = make_rule("container_stopped", quiet_hours=quiet_today())
    alert = fire(rule, exited)
    delivery = deliveries(alert).get()
    assert delivery.status == "deferred" and delivery.not_before > timezone.now()
    engine.reconcile(now=timezone.now())
    assert Delivery.objects.get(pk=delivery.pk).status == "deferred"  # still quiet
    engine.reconcile(now=delivery.not_before + timedelta(seconds=1))
    wait_until(lambda: Delivery.objects.get(pk=delivery.pk).status == "sent")
    assert http_server.titles() == [alert.title]


@pytest.mark.django_db
def test_an_alert_resolved_during_quiet_hours_is_never_sent(make_rule, exited, client_for, viewer):
    rule = make_rule("container_stopped", quiet_hours=quiet_today())
    alert = fire(rule, exited)
    page = client_for(viewer).get(f"/alerts/{alert.pk}/").content.decode()
    assert "to ops-hook: deferred (quiet hours) until " in page
    services.resolve(alert, reason="The container is running again.")
    delivery = deliveries(alert).get()  # and no resolve notification: the fire did not go out
    engine.reconcile(now=delivery.not_before + timedelta(seconds=1))
    delivery.refresh_from_db()
    assert delivery.status == "cancelled" and delivery.error == "Resolved during quiet hours."
    page = client_for(viewer).get(f"/alerts/{alert.pk}/").content.decode()
    assert "to ops-hook: not sent — Resolved during quiet hours." in page


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_host_going_offline_fires_after_the_rules_duration_and_coming_back_resolves(
    local_host, make_rule, http_server
):
    rule = make_rule("host_offline", duration_seconds=1, severity="critical")
    Host.objects.filter(pk=local_host.pk).update(status="online")
    local_host.refresh_from_db()
    host_record_failure(local_host, HostUnreachable("Cannot connect to the Docker daemon"))
    assert not Alert.objects.exists()  # not yet: the rule waits a second
    alert = wait_until(lambda: Alert.objects.filter(rule=rule).first())
    assert alert.title == "local is offline" and alert.host == local_host
    assert alert.context["error"] == "Cannot connect to the Docker daemon"
    wait_until(http_server.posted_json)
    host_record_contact(local_host)
    wait_until(lambda: Alert.objects.get(pk=alert.pk).state == "resolved")
    wait_until(lambda: len(http_server.requests) == 2)
    assert http_server.titles()[1] == "Resolved: local is offline"


@pytest.mark.django_db
def test_an_outage_shorter_than_the_duration_fires_nothing(local_host, make_rule):
    rule = make_rule("host_offline", duration_seconds=60)
    local_host.status, local_host.status_changed_at = "offline", timezone.now() - timedelta(seconds=61)
    local_host.save()
    since = local_host.status_changed_at.isoformat()
    host_record_contact(local_host)  # back before the check
    assert engine.check_host_offline(local_host.pk, rule.pk, since) is None


@pytest.mark.django_db
def test_the_periodic_check_resolves_what_cleared_without_an_event(make_rule, exited, local_host):
    stopped = fire(make_rule("container_stopped"), exited)
    Container.objects.filter(pk=exited.pk).update(state="running", started_at=timezone.now() + timedelta(seconds=1))
    gone_rule = make_rule("container_stopped", name="removed")
    removed_row = Container.objects.create(host=local_host, name="dm-t-gone", docker_id="x", state="exited")
    gone = fire(gone_rule, removed_row)
    Container.objects.filter(pk=removed_row.pk).update(state="removed")
    assert reconcile()["resolved"] == 2
    assert Alert.objects.get(pk=stopped.pk).resolution == "The container is running again."
    assert Alert.objects.get(pk=gone.pk).resolution == "The container was removed."


@pytest.mark.django_db
def test_retention_deletes_only_resolved_alerts_older_than_the_setting(make_rule, exited, admin):
    rule = make_rule("container_stopped", channels=[])
    settings_row = AlertSettings.load()
    settings_row.retention_days = 30
    settings_row.save()
    old = fire(rule, exited)
    services.comment(old, user=admin, text="looked at it")
    services.resolve(old, reason="fixed")
    Alert.objects.filter(pk=old.pk).update(resolved_at=timezone.now() - timedelta(days=31))
    recent = fire(rule, exited)
    services.resolve(recent, reason="fixed")
    still_open = fire(rule, exited)
    Alert.objects.filter(pk=still_open.pk).update(fired_at=timezone.now() - timedelta(days=400))
    assert purge() == 1
    assert set(Alert.objects.values_list("pk", flat=True)) == {recent.pk, still_open.pk}
    assert not AlertComment.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_beats_periodic_check_runs_on_a_worker(make_rule, exited):
    alert = fire(make_rule("container_stopped", channels=[]), exited)
    Container.objects.filter(pk=exited.pk).update(state="removed")
    reconcile.delay()
    wait_until(lambda: Alert.objects.get(pk=alert.pk).state == "resolved")
