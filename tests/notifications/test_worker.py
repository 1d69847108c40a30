"""End to end through a real Celery worker: queued on commit, retried after a failure, rescued by the
sweep, and sent once however often its task runs."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.notifications import services, tasks
from apps.notifications.models import Delivery
from tests.fixtures import wait_until
from tests.notifications.conftest import answer

pytestmark = pytest.mark.django_db(transaction=True)


def status_of(delivery: Delivery) -> str:
    return Delivery.objects.get(pk=delivery.pk).status


def test_delivered_by_the_worker_once(celery_worker, make_channel, receiver):
    channel = make_channel("webhook", url=f"{receiver.url}/in")
    with transaction.atomic():
        delivery = services.notify(channel, title="web-1 stopped", body="Exit code 1.", alert_id=3)
        tasks.deliver.delay(delivery.pk)  # a duplicate task, e.g. from the sweep
    tasks.deliver.delay(delivery.pk)

    wait_until(lambda: status_of(delivery) == Delivery.Status.SENT)
    time.sleep(0.5)  # give the duplicate tasks their turn
    assert receiver.titles() == ["web-1 stopped"]


def test_failed_delivery_is_retried_by_the_worker(celery_worker, make_channel, receiver, monkeypatch):
    monkeypatch.setattr(services, "FIRST_RETRY_SECONDS", 1)
    channel = make_channel("webhook", url=f"{receiver.url}/in")
    receiver.default = answer(500)
    with transaction.atomic():
        delivery = services.notify(channel, title="t", body="b")

    wait_until(lambda: receiver.requests)
    receiver.default = answer()
    retrying = wait_until(lambda: Delivery.objects.filter(pk=delivery.pk, status="retrying").first())
    assert "error=500" in retrying.error

    wait_until(lambda: status_of(delivery) == Delivery.Status.SENT)
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.error, len(receiver.requests)) == (2, "", 2)


def test_the_sweep_sends_a_delivery_whose_task_was_lost(celery_worker, make_channel, receiver):
    channel = make_channel("webhook", url=f"{receiver.url}/in")
    lost = Delivery.objects.create(
        channel=channel,
        channel_name=channel.name,
        title="lost",
        body="b",
        status=Delivery.Status.PENDING,
        next_attempt_at=timezone.now() - timedelta(minutes=5),
    )

    tasks.sweep.delay()

    wait_until(lambda: status_of(lost) == Delivery.Status.SENT)
    assert receiver.titles() == ["lost"]
