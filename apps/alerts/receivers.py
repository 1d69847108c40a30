"""What the alerts listen to. Each receiver is quick: it picks what an enabled rule cares about and hands
it to a Celery task (after the sender's transaction commits). Threshold rules are judged right in the
metrics sweep, which already runs in a worker."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apps.alerts import engine, tasks
from apps.alerts.models import AlertRule
from apps.autorestart.signals import restart_gave_up, restart_recovered
from apps.containers.signals import container_events
from apps.hosts.signals import host_status_changed
from apps.metrics.signals import host_swept
from apps.monitors.signals import check_status_changed

Kind = AlertRule.Kind


def _later(task, *args) -> None:
    transaction.on_commit(lambda: task.delay(*args), robust=True)


@receiver(container_events, dispatch_uid="alerts.container_events")
def on_container_events(sender, happenings, **kwargs) -> None:
    items = engine.happenings_to_judge(happenings)
    if items:
        _later(tasks.judge_happenings, items)


@receiver(host_status_changed, dispatch_uid="alerts.host_status_changed")
def on_host_status_changed(sender, host, online: bool, error: str = "", **kwargs) -> None:
    if Kind.HOST_OFFLINE in engine.active_kinds():
        _later(tasks.host_status, host.pk, online, error)


@receiver(host_swept, dispatch_uid="alerts.host_swept")
def on_host_swept(sender, host, values: dict, **kwargs) -> None:
    engine.judge_sweep(host, values)


@receiver(check_status_changed, dispatch_uid="alerts.check_status_changed")
def on_check_status_changed(sender, check, healthy: bool, error: str = "", **kwargs) -> None:
    if Kind.CHECK_FAILING in engine.active_kinds():
        _later(tasks.check_status, check.pk, healthy, error)


@receiver(restart_gave_up, dispatch_uid="alerts.restart_gave_up")
def on_restart_gave_up(sender, container, attempts: int, exit_codes: list, error: str = "", **kwargs) -> None:
    if Kind.RESTART_GAVE_UP in engine.active_kinds():
        _later(tasks.restart_gave_up, container.pk, attempts, list(exit_codes), error)


@receiver(restart_recovered, dispatch_uid="alerts.restart_recovered")
def on_restart_recovered(sender, container, **kwargs) -> None:
    if Kind.RESTART_GAVE_UP in engine.active_kinds():
        _later(tasks.restart_recovered, container.pk)


@receiver([post_save, post_delete], sender=AlertRule, dispatch_uid="alerts.rules_changed")
def on_rules_changed(sender, **kwargs) -> None:
    engine.forget_active_kinds()
