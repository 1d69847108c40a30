"""Writes for core: global settings and audit retention."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.core.audit import record
from apps.core.models import AppSettings, Event


@transaction.atomic
def app_settings_update(*, actor, changes: dict, request: HttpRequest | None = None) -> AppSettings:
    """Apply changed fields to the settings row and record old and new values."""
    row = AppSettings.load()
    diff = {}
    for field, value in changes.items():
        old = getattr(row, field)
        if old != value:
            diff[field] = {"from": old, "to": value}
            setattr(row, field, value)
    if diff:
        row.save()
        record(actor, "settings.change", row, details=diff, request=request)
    return row


PURGE_BATCH = 5000


def events_purge() -> int:
    """Delete events older than the retention period, in batches so the table is never locked for long."""
    days = AppSettings.load().event_retention_days
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(Event.objects.filter(timestamp__lt=cutoff).values_list("pk", flat=True)[:PURGE_BATCH])
        if not ids:
            break
        deleted += Event.objects.filter(pk__in=ids).delete()[0]
    if deleted:
        record(None, "events.purge", details={"deleted": deleted, "older_than_days": days})
    return deleted
