"""Beat's metrics work; each task is a thin shell around the collector and history."""

from __future__ import annotations

from celery import shared_task

from apps.hosts.models import Host
from apps.metrics import collector, history, live_tags
from apps.metrics.models import MetricsSettings


@shared_task(name="metrics.sweep")
def sweep() -> int:
    """Start one sweep per online host: a slow or unreachable host delays nobody else."""
    interval = MetricsSettings.load().interval_seconds
    hosts = list(Host.objects.filter(status=Host.Status.ONLINE).values_list("pk", flat=True))
    for pk in hosts:
        sweep_host.apply_async((pk,), expires=interval)
    live_tags.push_tag_groups()
    return len(hosts)


@shared_task(name="metrics.sweep_host")
def sweep_host(host_pk: int) -> int:
    host = Host.objects.filter(pk=host_pk).first()
    result = collector.sweep_host(host) if host is not None else None
    return result.containers if result else 0


@shared_task(name="metrics.rollup", expires=55)
def rollup() -> int:
    written = history.rollup()
    history.purge()
    return sum(written.values())
