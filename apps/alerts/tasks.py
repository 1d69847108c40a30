"""The alerts' background work; each task is a thin shell around the engine and services."""

from __future__ import annotations

from celery import shared_task

from apps.alerts import engine, services
from apps.core.redis_client import held_alone

RECONCILE_SECONDS = 30


@shared_task(name="alerts.judge_happenings")
def judge_happenings(items: list[dict]) -> int:
    engine.judge_happenings(items)
    return len(items)


@shared_task(name="alerts.check_stopped")
def check_stopped(container_pk: int, docker_id: str, exit_code: int | None, died_at: str) -> int:
    return len(engine.check_stopped(container_pk, docker_id, exit_code, died_at))


@shared_task(name="alerts.host_status")
def host_status(host_pk: int, online: bool, error: str) -> None:
    engine.judge_host_status(host_pk, online=online, error=error)


@shared_task(name="alerts.check_host_offline")
def check_host_offline(host_pk: int, rule_pk: int, since: str) -> bool:
    return engine.check_host_offline(host_pk, rule_pk, since) is not None


@shared_task(name="alerts.check_status")
def check_status(check_pk: int, healthy: bool, error: str) -> None:
    engine.judge_check_status(check_pk, healthy=healthy, error=error)


@shared_task(name="alerts.restart_gave_up")
def restart_gave_up(container_pk: int, attempts: int, exit_codes: list[int], error: str) -> None:
    engine.judge_restart_gave_up(container_pk, attempts=attempts, exit_codes=exit_codes, error=error)


@shared_task(name="alerts.restart_recovered")
def restart_recovered(container_pk: int) -> None:
    engine.judge_restart_recovered(container_pk)


@shared_task(name="alerts.reconcile", expires=RECONCILE_SECONDS)
def reconcile() -> dict[str, int]:
    """The safety net, by one worker at a time."""
    with held_alone("alerts:reconcile", RECONCILE_SECONDS) as alone:
        return engine.reconcile() if alone else {}


@shared_task(name="alerts.purge")
def purge() -> int:
    return services.purge_resolved()
