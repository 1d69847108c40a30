"""Changing how metrics are collected and kept."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from apps.core.audit import record
from apps.metrics.models import MetricsSettings

SWEEP_TASK = "metrics.sweep"


@transaction.atomic
def metrics_settings_update(*, actor, changes: dict, request: HttpRequest | None = None) -> MetricsSettings:
    row = MetricsSettings.load()
    diff = {field: {"from": getattr(row, field), "to": value} for field, value in changes.items()
            if getattr(row, field) != value}  # fmt: skip
    if not diff:
        return row
    for field, change in diff.items():
        setattr(row, field, change["to"])
    row.save()
    if "interval_seconds" in diff:
        _reschedule(row.interval_seconds)
    record(actor, "settings.change", row, details=diff, request=request)
    return row


def _reschedule(seconds: int) -> None:
    """Beat reads its schedule from the database and notices the change by itself."""
    interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
    for task in PeriodicTask.objects.filter(task=SWEEP_TASK):
        task.interval = interval
        task.expire_seconds = seconds
        task.save()
