"""Writes on channels and deliveries: saving channels, queueing, sending and retrying notifications.

A delivery is an outbox row. Whoever sends it first claims it with a conditional UPDATE (the claim also
pushes `next_attempt_at` forward by a lease), so two workers, or the task and the safety-net sweep,
never send the same delivery twice; a worker that dies mid-send leaves the lease to expire and the
sweep tries again.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone

from apps.core.audit import record
from apps.core.models import Event
from apps.notifications import transport
from apps.notifications.kinds import KINDS
from apps.notifications.models import Channel, Delivery

logger = logging.getLogger(__name__)

# Retries: 5 s, 10 s, 20 s … doubling up to 1 h between attempts, for at most 24 h.
FIRST_RETRY_SECONDS = 5
MAX_RETRY_SECONDS = 3600
GIVE_UP_AFTER = timedelta(hours=24)
# A claimed delivery is not tried again before this, longer than any send can take (the task time limit).
CLAIM_LEASE = timedelta(minutes=5)
# A pending delivery whose task has not run this long after it was due was lost (broker or worker
# died): the sweep sends it.
STUCK_AFTER = timedelta(seconds=60)
OPEN_STATUSES = (Delivery.Status.DEFERRED, Delivery.Status.PENDING, Delivery.Status.RETRYING)
# apprise's message type by severity; a resolve is good news whatever the severity.
NOTIFY_TYPES = {"warning": "warning", "error": "failure", "critical": "failure"}
TEST_TITLE = "DockMon test notification"


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 5 s, 10 s, 20 s … capped at 1 h."""
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS))


# --- channels ------------------------------------------------------------------------------------------


def channel_config(channel: Channel) -> dict[str, Any]:
    try:
        return json.loads(channel.config or "{}")
    except ValueError:
        return {}


def channel_summary(channel: Channel) -> str:
    kind = KINDS.get(channel.kind)
    return kind.summary(channel_config(channel)) if kind else f"Unknown kind “{channel.kind}”"


def channel_secrets(channel: Channel) -> list[str]:
    kind = KINDS.get(channel.kind)
    return kind.secrets(channel_config(channel)) if kind else []


@transaction.atomic
def channel_save(
    *,
    actor: Any,
    channel: Channel | None,
    kind: str,
    name: str,
    enabled: bool,
    config: dict[str, Any],
    request: HttpRequest | None = None,
) -> Channel:
    """Create (channel None) or update a channel. The audit names what changed, never a value of a secret."""
    creating = channel is None
    channel = channel or Channel(kind=kind)
    before = {} if creating else {"name": channel.name, "enabled": channel.enabled, **channel_config(channel)}
    after = {"name": name, "enabled": enabled, **config}
    changed = sorted(key for key in after.keys() | before.keys() if before.get(key) != after.get(key))
    channel.kind, channel.name, channel.enabled = kind, name, enabled
    channel.config = json.dumps(config)
    channel.save()
    details = {"kind": kind} if creating else {"changed": changed}
    record(
        actor,
        "notifications.channel_create" if creating else "notifications.channel_update",
        channel,
        details=details,
        request=request,
    )
    return channel


@transaction.atomic
def channel_delete(*, actor: Any, channel: Channel, request: HttpRequest | None = None) -> None:
    """Delete a channel; what it still had to send is logged as not sent."""
    Delivery.objects.filter(channel=channel, status__in=OPEN_STATUSES).update(
        status=Delivery.Status.CANCELLED, error="The channel was deleted.", next_attempt_at=None
    )
    record(actor, "notifications.channel_delete", channel, severity=Event.Severity.WARNING, request=request)
    channel.delete()


# --- sending -------------------------------------------------------------------------------------------


def _notify_type(kind: str, severity: str) -> str:
    return "success" if kind == "resolve" else NOTIFY_TYPES.get(severity, "info")


def _send(channel: Channel, *, title: str, body: str, notify_type: str) -> str:
    """Send through apprise; "" on success, else the error with every secret of the channel hidden."""
    kind = KINDS.get(channel.kind)
    if kind is None:
        return f"This channel's kind “{channel.kind}” is not known to this DockMon."
    config = channel_config(channel)
    url = ""
    try:
        url = kind.build_url(config)
        error = transport.send(url, title=title, body=body, notify_type=notify_type)
    except Exception as problem:  # noqa: BLE001 - a sender must never take the caller down
        error = f"Could not send: {problem}"
    if not error:
        return ""
    keep = [transport.server_host(url)] if url else []
    return transport.redact(error, kind.secrets(config), keep=keep)[:1000]


def _record_health(channel: Channel, *, now: datetime, error: str) -> None:
    # F() expressions: concurrent deliveries to one channel each count.
    if error:
        Channel.objects.filter(pk=channel.pk).update(
            last_failure_at=now, last_error=error, consecutive_failures=F("consecutive_failures") + 1
        )
    else:
        Channel.objects.filter(pk=channel.pk).update(last_success_at=now, consecutive_failures=0)


def _queue(delivery: Delivery, *, countdown: float = 0) -> None:
    from apps.notifications.tasks import deliver as deliver_task

    # robust: a broker outage must not fail the caller's transaction; the sweep sends it later.
    transaction.on_commit(lambda: deliver_task.apply_async((delivery.pk,), countdown=countdown), robust=True)


def notify(
    channel: Channel,
    *,
    title: str,
    body: str,
    alert_id: int | None = None,
    rule_name: str = "",
    kind: str = "fire",
    severity: str = "info",
    defer_until: datetime | None = None,
) -> Delivery:
    """Log one notification to `channel` and send it once the transaction commits, or keep it deferred
    until `defer_until` (quiet hours) for release() or cancel(). A disabled channel's notification is
    logged as not sent. Never raises on delivery problems: they are in the delivery's status and error."""
    now = timezone.now()
    delivery = Delivery(
        channel=channel,
        channel_name=channel.name,
        alert_id=alert_id,
        rule_name=rule_name[:200],
        kind=kind,
        severity=severity,
        title=title[:250],
        body=body,
        created_at=now,
    )
    if not channel.enabled:
        delivery.status, delivery.error = Delivery.Status.CANCELLED, "The channel is disabled."
    elif defer_until is not None:
        delivery.status, delivery.not_before = Delivery.Status.DEFERRED, defer_until
    else:
        delivery.status, delivery.next_attempt_at = Delivery.Status.PENDING, now
    delivery.save()
    if delivery.status == Delivery.Status.PENDING:
        _queue(delivery)
    return delivery


def release(delivery: Delivery) -> None:
    """A deferred delivery goes out now (a delivery no longer deferred is left as it is)."""
    now = timezone.now()
    released = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.DEFERRED).update(
        status=Delivery.Status.PENDING, next_attempt_at=now
    )
    if released:
        delivery.refresh_from_db()
        _queue(delivery)


def cancel(delivery: Delivery, reason: str) -> None:
    """The delivery is not sent, if it was not yet; `reason` is shown in the delivery log."""
    Delivery.objects.filter(pk=delivery.pk, status__in=OPEN_STATUSES).update(
        status=Delivery.Status.CANCELLED, error=reason[:1000], next_attempt_at=None
    )
    delivery.refresh_from_db()


def _claim(delivery: Delivery, now: datetime) -> bool:
    """Take the delivery for one attempt; False when another worker has it, or it is not due."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return bool(
        Delivery.objects.filter(due, pk=delivery.pk, status=delivery.status, attempts=delivery.attempts).update(
            attempts=F("attempts") + 1, next_attempt_at=now + CLAIM_LEASE
        )
    )


def _finish(delivery: Delivery, **fields: Any) -> bool:
    """Record the attempt's outcome, unless the delivery was cancelled meanwhile."""
    for name, value in fields.items():
        setattr(delivery, name, value)
    return bool(
        Delivery.objects.filter(pk=delivery.pk, status__in=(Delivery.Status.PENDING, Delivery.Status.RETRYING)).update(
            **fields
        )
    )


def deliver(delivery_id: int, *, now: datetime | None = None) -> Delivery | None:
    """Make one attempt at a pending or retrying delivery that is due. `now` is injectable for tests."""
    now = now or timezone.now()
    delivery = Delivery.objects.select_related("channel").filter(pk=delivery_id).first()
    if delivery is None or delivery.status not in (Delivery.Status.PENDING, Delivery.Status.RETRYING):
        return delivery
    if not _claim(delivery, now):
        return delivery
    delivery.attempts += 1
    channel = delivery.channel
    if channel is None:
        _finish(delivery, status=Delivery.Status.CANCELLED, error="The channel was deleted.", next_attempt_at=None)
        return delivery
    if not channel.enabled:
        _finish(delivery, status=Delivery.Status.CANCELLED, error="The channel is disabled.", next_attempt_at=None)
        return delivery
    error = _send(
        channel, title=delivery.title, body=delivery.body, notify_type=_notify_type(delivery.kind, delivery.severity)
    )
    _record_health(channel, now=now, error=error)
    if not error:
        _finish(delivery, status=Delivery.Status.SENT, sent_at=now, error="", next_attempt_at=None)
        logger.info("Notification %s sent to channel %s.", delivery.pk, channel.name)
        return delivery
    # Retrying counts from when the delivery was due: a night of quiet hours does not use up the 24 h.
    started = max(delivery.created_at, delivery.not_before or delivery.created_at)
    if now - started >= GIVE_UP_AFTER:
        _finish(delivery, status=Delivery.Status.FAILED, error=error, next_attempt_at=None)
        logger.warning(
            "Notification %s to channel %s failed for good after %s attempts: %s",
            delivery.pk,
            channel.name,
            delivery.attempts,
            error,
        )
        return delivery
    delay = retry_delay(delivery.attempts)
    if not _finish(delivery, status=Delivery.Status.RETRYING, error=error, next_attempt_at=now + delay):
        delivery.refresh_from_db()
        return delivery
    logger.warning(
        "Notification %s to channel %s failed (attempt %s), retrying in %s s: %s",
        delivery.pk,
        channel.name,
        delivery.attempts,
        int(delay.total_seconds()),
        error,
    )
    _queue(delivery, countdown=delay.total_seconds())
    return delivery


def due_deliveries(now: datetime | None = None) -> list[int]:
    """Deliveries the sweep should (re)send: retries that are due, and pending ones whose task got lost."""
    now = now or timezone.now()
    due_retry = Q(status=Delivery.Status.RETRYING, next_attempt_at__lte=now)
    stuck = Q(status=Delivery.Status.PENDING) & (
        Q(next_attempt_at__lte=now - STUCK_AFTER) | Q(next_attempt_at__isnull=True)
    )
    return list(Delivery.objects.filter(due_retry | stuck).order_by("next_attempt_at").values_list("pk", flat=True))


def send_test(channel: Channel, *, actor: Any = None, request: HttpRequest | None = None) -> tuple[bool, str]:
    """Send a test message now and wait for the answer: (True, "") or (False, the exact error).
    The test is logged as a delivery and counts towards the channel's health."""
    now = timezone.now()
    body = f"A test from DockMon: the channel “{channel.name}” works."
    error = _send(channel, title=TEST_TITLE, body=body, notify_type="info")
    _record_health(channel, now=now, error=error)
    Delivery.objects.create(
        channel=channel,
        channel_name=channel.name,
        kind="test",
        title=TEST_TITLE,
        body=body,
        created_at=now,
        attempts=1,
        status=Delivery.Status.FAILED if error else Delivery.Status.SENT,
        sent_at=None if error else now,
        error=error,
    )
    record(
        actor,
        "notifications.channel_test",
        channel,
        severity=Event.Severity.WARNING if error else Event.Severity.INFO,
        message=error,
        request=request,
    )
    return not error, error
