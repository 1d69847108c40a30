"""Sending notifications in the background; the logic lives in services."""

from __future__ import annotations

from celery import shared_task

from apps.notifications import services


@shared_task(name="notifications.deliver")
def deliver(delivery_id: int) -> str:
    delivery = services.deliver(delivery_id)
    return delivery.status if delivery else "gone"


@shared_task(name="notifications.sweep", expires=25)
def sweep() -> int:
    """The safety net: retries that are due and pending deliveries whose task was lost."""
    due = services.due_deliveries()
    for delivery_id in due:
        deliver.delay(delivery_id)
    return len(due)
