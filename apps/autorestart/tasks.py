"""Auto-restart's Celery work; thin shells around the restarter."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task

from apps.autorestart import restarter


@shared_task(name="autorestart.attempt")
def attempt_restart(policy_pk: int, scheduled_for: str) -> str:
    """One queued attempt; `scheduled_for` (ISO 8601) must still be the policy's next attempt, or it does nothing."""
    return restarter.run_attempt(policy_pk, datetime.fromisoformat(scheduled_for))


@shared_task(name="autorestart.reconcile", expires=25)
def reconcile() -> dict[str, int]:
    return restarter.reconcile()
