"""Periodic and background work on containers; each task is a thin shell around a service."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from apps.containers import bulk
from apps.containers.polling import poll_host
from apps.hosts.models import DIALLED_KINDS, Host

# Provisional next check while a poll is queued, so a slow queue never stacks duplicate polls.
QUEUED_GRACE = timedelta(seconds=60)


@shared_task(name="containers.poll_due_hosts", expires=9)
def poll_due_hosts() -> int:
    """Queue a poll for every host whose next check is due (online hosts every 30 s, others by back-off)."""
    now = timezone.now()
    due = list(
        Host.objects.filter(kind__in=DIALLED_KINDS)
        .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
        .values_list("pk", flat=True)
    )
    Host.objects.filter(pk__in=due).update(next_check_at=now + QUEUED_GRACE)
    for pk in due:
        poll_host_task.delay(pk)
    return len(due)


@shared_task(name="containers.poll_host", expires=60)
def poll_host_task(host_pk: int) -> None:
    host = Host.objects.filter(pk=host_pk).first()
    if host is not None:
        poll_host(host)


@shared_task(name="containers.run_bulk_job")
def run_bulk_job(job_pk: int) -> None:
    bulk.run_job(job_pk)
