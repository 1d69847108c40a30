"""Beat's health-check work; each task is a thin shell around services."""

from __future__ import annotations

from celery import shared_task

from apps.monitors import services
from apps.monitors.models import HealthCheck


@shared_task(name="monitors.dispatch")
def dispatch() -> int:
    """Queue one task per due check (claimed first, so no check runs twice): they spread across workers."""
    claimed = services.claim_due()
    for pk, interval in claimed.items():
        # A run still waiting when the next one is due is dropped: a backlog never stacks runs.
        run_check.apply_async((pk,), expires=interval)
    return len(claimed)


@shared_task(name="monitors.run_check")
def run_check(check_pk: int) -> bool | None:
    check = HealthCheck.objects.select_related("container__host").filter(pk=check_pk, enabled=True).first()
    if check is None:
        return None
    result = services.run_check(check)
    services.restart_if_due(check)
    return result.ok if result else None


@shared_task(name="monitors.purge_results", expires=3000)
def purge_results() -> int:
    return services.purge_results()
