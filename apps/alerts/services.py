"""Alert instances: firing, repeating, resolving, acknowledging, snoozing and commenting, with the
notifications each step sends, the releasing of those deferred by quiet hours, and retention.

At most one open alert per rule and target (the database enforces it): a repeat updates the open alert.
Notifications honour the rule's cooldown (counted from the last notification of the same rule and target,
also across alerts), its quiet hours (deferred, never dropped) and the alert's state (acknowledged alerts
are not re-notified, snoozed ones stay silent until the snooze ends).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.alerts import live
from apps.alerts.context import message_variables
from apps.alerts.messages import container_url, format_duration, host_url, render_message
from apps.alerts.models import Alert, AlertComment, AlertRule, AlertSettings
from apps.alerts.quiet import quiet_until
from apps.containers.models import Container
from apps.core.audit import record
from apps.core.models import Event
from apps.hosts.models import Host
from apps.notifications import services as notifications
from apps.notifications.models import Delivery

logger = logging.getLogger(__name__)

HISTORY_LIMIT = 50
# Deliveries that reached, or are on their way to, the channel: a resolve is only worth sending after one.
WENT_OUT = (Delivery.Status.SENT, Delivery.Status.PENDING, Delivery.Status.RETRYING)
FIRE_KINDS = ("fire", "repeat")
# Kinds that are events rather than conditions: recorded, notified and resolved at once.
EVENT_KINDS = (AlertRule.Kind.CONTAINER_STARTED,)


@dataclass(frozen=True)
class Target:
    """What an alert is about: its key (one open alert per rule and key), its name and its rows."""

    key: str
    name: str
    container: Container | None = None
    host: Host | None = None

    @classmethod
    def of_container(cls, container: Container) -> Target:
        return cls(f"container:{container.pk}", container.name, container, container.host)

    @classmethod
    def of_host(cls, host: Host) -> Target:
        return cls(f"host:{host.pk}", host.name, None, host)

    @classmethod
    def of_check(cls, check: Any) -> Target:
        container = check.container
        return cls(f"check:{check.pk}", f"{container.name} · {check.url}"[:255], container, container.host)


def _entry(what: str, *, at: datetime | None = None, by: str = "", note: str = "") -> dict:
    return {"at": (at or timezone.now()).isoformat(), "what": what, "by": by, "note": note}


def _add_history(alert: Alert, what: str, **kwargs: Any) -> None:
    history = list(alert.context.get("history") or [])
    history.append(_entry(what, **kwargs))
    alert.context = {**alert.context, "history": history[-HISTORY_LIMIT:]}


def _changed(alert_pks: list[int]) -> None:
    transaction.on_commit(lambda: live.alerts_changed(alert_pks), robust=True)


def open_alert(rule: AlertRule, target_key: str, *, lock: bool = False) -> Alert | None:
    alerts = Alert.objects.select_for_update() if lock else Alert.objects
    return alerts.filter(rule=rule, target_key=target_key).exclude(state=Alert.State.RESOLVED).first()


# --- firing ----------------------------------------------------------------------------------------------


def fire(
    rule: AlertRule,
    target: Target,
    *,
    context: dict[str, Any],
    value: float | None = None,
    seen_at: datetime | None = None,
    now: datetime | None = None,
) -> Alert:
    """The rule's condition holds for the target: open an alert, or count a repeat on the open one.

    `context` is what the alert carries (see context.py); `seen_at` when the condition was observed
    (a Docker event's time), used to tell a later recovery from an earlier one.
    """
    now = now or timezone.now()
    variables = message_variables(rule, container=target.container, host=target.host, context=context)
    title, body = render_message(rule, variables)
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                alert = open_alert(rule, target.key, lock=True)
                if alert is None:
                    alert = _open(rule, target, title=title, body=body, context=context, value=value,
                                  seen_at=seen_at or now, now=now)  # fmt: skip
                else:
                    _repeat(alert, rule, title=title, body=body, context=context, value=value,
                            seen_at=seen_at or now, now=now)  # fmt: skip
            break
        except IntegrityError:
            # Another worker opened the same alert at the same moment: ours is a repeat of it.
            if attempt == 2:
                raise
    if rule.kind in EVENT_KINDS and alert.is_open:
        resolve(alert, reason="A start is an event: nothing to clear.", notify=False)
    return alert


def _open(rule: AlertRule, target: Target, *, title: str, body: str, context: dict, value: float | None,
          seen_at: datetime, now: datetime) -> Alert:  # fmt: skip
    alert = Alert.objects.create(
        rule=rule,
        rule_name=rule.name,
        kind=rule.kind,
        severity=rule.severity,
        target_key=target.key,
        container=target.container,
        host=target.host,
        target_name=target.name[:255],
        host_name=target.host.name if target.host else "",
        title=title[:300],
        message=body,
        context={**context, "history": [_entry("fired", at=now)]},
        value=value,
        fired_at=now,
        last_seen_at=seen_at,
    )
    last = _last_notified(rule, target.key, alert)
    if last is not None and now - last < timedelta(seconds=rule.cooldown_seconds):
        _add_history(alert, "not notified", at=now, note=_cooldown_note(rule, last, now))
    else:
        _notify(alert, rule, kind="fire", now=now)
    alert.save(update_fields=["context", "last_notified_at"])
    record(Event.ActorKind.ALERT, "alerts.fire", alert, host=target.host, severity=rule.severity, message=title,
           details={"rule": rule.name, "target": target.name, "value": value})  # fmt: skip
    _changed([alert.pk])
    return alert


def _repeat(alert: Alert, rule: AlertRule, *, title: str, body: str, context: dict, value: float | None,
            seen_at: datetime, now: datetime) -> None:  # fmt: skip
    alert.occurrences += 1
    alert.last_seen_at = max(alert.last_seen_at, seen_at)
    alert.title, alert.message, alert.value = title[:300], body, value
    alert.context = {**alert.context, **context, "history": alert.context.get("history") or []}
    _add_history(alert, "repeated", at=now, note=f"occurrence {alert.occurrences}")
    fields = ["occurrences", "last_seen_at", "title", "message", "value", "context"]
    if alert.state == Alert.State.FIRING:
        last = _last_notified(rule, alert.target_key, alert)
        if last is None or now - last >= timedelta(seconds=rule.cooldown_seconds):
            _notify(alert, rule, kind="repeat", now=now)
            fields.append("last_notified_at")
        else:
            _add_history(alert, "not notified", at=now, note=_cooldown_note(rule, last, now))
    alert.save(update_fields=fields)
    _changed([alert.pk])


def _last_notified(rule: AlertRule, target_key: str, alert: Alert) -> datetime | None:
    """The last notification about this rule and target: this alert's, or the one before it."""
    if alert.last_notified_at is not None:
        return alert.last_notified_at
    return (
        Alert.objects.filter(rule=rule, target_key=target_key, last_notified_at__isnull=False)
        .exclude(pk=alert.pk)
        .order_by("-last_notified_at")
        .values_list("last_notified_at", flat=True)
        .first()
    )


def _cooldown_note(rule: AlertRule, last: datetime, now: datetime) -> str:
    return (
        f"Cooldown: the last notification went out {format_duration((now - last).total_seconds())} ago "
        f"(the rule waits {format_duration(rule.cooldown_seconds)} between notifications)."
    )


def _defer_until(rule: AlertRule, now: datetime) -> datetime | None:
    try:
        return quiet_until(rule.quiet_hours, now)
    except ValidationError:
        # The rule form refuses such text; a rule stored otherwise notifies at once rather than never.
        logger.warning("Alert rule %s has quiet hours that do not parse; notifying at once.", rule.pk)
        return None


def _notify(alert: Alert, rule: AlertRule, *, kind: str, now: datetime, title: str = "", body: str = "",
            channels: list | None = None) -> int:  # fmt: skip
    """Queue one notification per channel (deferred in quiet hours); returns how many were queued."""
    if channels is None:
        channels = [channel for channel in rule.channels.all() if channel.enabled]
    if not channels:
        if kind != "resolve":
            _add_history(alert, "not notified", at=now, note=_nobody_note(rule))
        return 0
    defer_until = _defer_until(rule, now)
    for channel in channels:
        notifications.notify(
            channel,
            title=title or alert.title,
            body=body or alert.message,
            alert_id=alert.pk,
            rule_name=rule.name,
            kind=kind,
            severity=alert.severity,
            defer_until=defer_until,
        )
    if kind != "resolve":
        alert.last_notified_at = now
    if defer_until is not None:
        local = timezone.localtime(defer_until)
        note = f"Quiet hours: the {kind} notification waits until {local:%a %H:%M}."
        _add_history(alert, "deferred", at=now, note=note)
    return len(channels)


def _nobody_note(rule: AlertRule) -> str:
    if rule.channels.exists():
        return "Nobody was notified: the rule's channels are all disabled."
    return "Nobody was notified: the rule has no channels."


# --- resolving ---------------------------------------------------------------------------------------------


def resolve(alert: Alert, *, reason: str, user: Any = None, notify: bool = True, request: HttpRequest | None = None,
            now: datetime | None = None) -> bool:  # fmt: skip
    """The condition cleared (or a user says so). Sends the resolve notification where the rule asks for it
    and the fire notification went out. False when the alert was already resolved."""
    now = now or timezone.now()
    with transaction.atomic():
        alert_row = Alert.objects.select_for_update().filter(pk=alert.pk).exclude(state=Alert.State.RESOLVED).first()
        if alert_row is None:
            return False
        by = user.get_username() if user is not None else ""
        alert_row.state, alert_row.resolved_at, alert_row.snoozed_until = Alert.State.RESOLVED, now, None
        alert_row.resolution = (f"Resolved by {by}" + (f": {reason}" if reason else "") if user else reason)[:200]
        alert_row.resolved_by = user
        _add_history(alert_row, "resolved", at=now, by=by, note=reason)
        rule = alert_row.rule
        if notify and rule is not None and rule.notify_on_resolve:
            _notify_resolved(alert_row, rule, now)
        alert_row.save()
        record(user if user is not None else Event.ActorKind.ALERT, "alerts.resolve", alert_row,
               host=alert_row.host, message=alert_row.resolution, request=request)  # fmt: skip
        _changed([alert_row.pk])
    _copy(alert_row, alert)
    return True


def _notify_resolved(alert: Alert, rule: AlertRule, now: datetime) -> None:
    went_out = set(
        Delivery.objects.filter(alert_id=alert.pk, kind__in=FIRE_KINDS, status__in=WENT_OUT).values_list(
            "channel_id", flat=True
        )
    )
    channels = [channel for channel in rule.channels.all() if channel.pk in went_out and channel.enabled]
    if not channels:
        return
    lasted = format_duration((now - alert.fired_at).total_seconds())
    link = container_url(alert.container) if alert.container else host_url(alert.host) if alert.host else ""
    body = f"{alert.title}\n\nResolved after {lasted}: {alert.resolution or 'the condition cleared'}.\n\n{link}"
    _notify(alert, rule, kind="resolve", now=now, title=f"Resolved: {alert.title}", body=body.strip(),
            channels=channels)  # fmt: skip


def _copy(source: Alert, target: Alert) -> None:
    if source is not target:
        for field in ("state", "resolved_at", "resolution", "resolved_by", "snoozed_until", "context",
                      "acknowledged_at", "acknowledged_by", "last_notified_at"):  # fmt: skip
            setattr(target, field, getattr(source, field))


def resolve_open(alerts, *, reason: str) -> int:
    """Resolve each of these alerts that is still open; returns how many were."""
    return sum(resolve(alert, reason=reason) for alert in alerts)


# --- people's actions ----------------------------------------------------------------------------------


class AlertStateError(Exception):
    """The action does not apply to the alert's state (e.g. acknowledging a resolved alert)."""


def _locked(alert: Alert, allowed: tuple[str, ...], action: str) -> Alert:
    row = Alert.objects.select_for_update().get(pk=alert.pk)
    if row.state not in allowed:
        raise AlertStateError(f"This alert is {row.get_state_display().lower()}: it cannot be {action} now.")
    return row


def acknowledge(alert: Alert, *, user: Any, request: HttpRequest | None = None) -> Alert:
    """Someone is on it: repeats are no longer notified (the resolve still is)."""
    now = timezone.now()
    with transaction.atomic():
        row = _locked(alert, (Alert.State.FIRING, Alert.State.SNOOZED), "acknowledged")
        row.state, row.acknowledged_at, row.acknowledged_by, row.snoozed_until = (
            Alert.State.ACKNOWLEDGED, now, user, None,
        )  # fmt: skip
        _add_history(row, "acknowledged", at=now, by=user.get_username())
        row.save()
        record(user, "alerts.acknowledge", row, host=row.host, request=request)
        _changed([row.pk])
    return row


def snooze(alert: Alert, *, user: Any, until: datetime, request: HttpRequest | None = None) -> Alert:
    """Silence the alert until `until`; then it fires (and notifies) again if its condition still holds."""
    now = timezone.now()
    if until <= now:
        raise AlertStateError("Choose a time in the future to snooze until.")
    with transaction.atomic():
        row = _locked(alert, (Alert.State.FIRING, Alert.State.ACKNOWLEDGED, Alert.State.SNOOZED), "snoozed")
        row.state, row.snoozed_until = Alert.State.SNOOZED, until
        local = timezone.localtime(until)
        _add_history(row, "snoozed", at=now, by=user.get_username(), note=f"until {local:%Y-%m-%d %H:%M}")
        row.save()
        record(user, "alerts.snooze", row, host=row.host, message=f"until {local:%Y-%m-%d %H:%M}",
               details={"until": until.isoformat()}, request=request)  # fmt: skip
        _changed([row.pk])
    return row


def end_snooze(alert: Alert, *, now: datetime | None = None) -> bool:
    """The snooze is over and the condition still holds: firing again, and notifying."""
    now = now or timezone.now()
    with transaction.atomic():
        row = Alert.objects.select_for_update().filter(pk=alert.pk, state=Alert.State.SNOOZED).first()
        if row is None:
            return False
        row.state, row.snoozed_until = Alert.State.FIRING, None
        _add_history(row, "snooze ended", at=now, note="The condition still holds.")
        if row.rule is not None:
            _notify(row, row.rule, kind="fire", now=now)
        row.save()
        record(Event.ActorKind.ALERT, "alerts.unsnooze", row, host=row.host, message="Snooze ended; still firing.")
        _changed([row.pk])
    return True


def comment(alert: Alert, *, user: Any, text: str, request: HttpRequest | None = None) -> AlertComment:
    text = text.strip()
    if not text:
        raise AlertStateError("Write something to add a comment.")
    with transaction.atomic():
        note = AlertComment.objects.create(alert=alert, author=user, author_name=user.get_username(), text=text)
        record(user, "alerts.comment", alert, host=alert.host, message=text[:200], request=request)
        _changed([alert.pk])
    return note


# --- quiet hours and retention ---------------------------------------------------------------------------


def release_deferred(now: datetime | None = None) -> tuple[int, int]:
    """Deferred notifications whose quiet hours are over: sent when their alert still holds, else cancelled.
    Returns (released, cancelled)."""
    now = now or timezone.now()
    due = list(Delivery.objects.filter(status=Delivery.Status.DEFERRED, not_before__lte=now, alert_id__isnull=False))
    states = dict(Alert.objects.filter(pk__in={d.alert_id for d in due}).values_list("pk", "state"))
    released = cancelled = 0
    for delivery in due:
        state = states.get(delivery.alert_id)
        if delivery.kind == "resolve" or state in (Alert.State.FIRING, Alert.State.ACKNOWLEDGED):
            notifications.release(delivery)
            released += 1
        elif state == Alert.State.SNOOZED:
            notifications.cancel(delivery, "Snoozed during quiet hours; it notifies again when the snooze ends.")
            cancelled += 1
        else:
            notifications.cancel(delivery, "Resolved during quiet hours.")
            cancelled += 1
    return released, cancelled


def purge_resolved(now: datetime | None = None) -> int:
    """Delete resolved alerts older than the retention period; returns how many went."""
    now = now or timezone.now()
    days = AlertSettings.load().retention_days
    _, by_model = Alert.objects.filter(state=Alert.State.RESOLVED, resolved_at__lt=now - timedelta(days=days)).delete()
    count = by_model.get(Alert._meta.label, 0)
    if count:
        plural = "s" if count != 1 else ""
        record(None, "alerts.purge", message=f"Deleted {count} resolved alert{plural} older than {days} days.")
    return count


def settings_update(*, actor: Any, changes: dict, request: HttpRequest | None = None) -> AlertSettings:
    retention_days = changes["retention_days"]
    config = AlertSettings.load()
    if config.retention_days != retention_days:
        before = config.retention_days
        config.retention_days = retention_days
        config.save()
        record(actor, "settings.change", config, message=f"Alert retention: {before} → {retention_days} days",
               details={"retention_days": [before, retention_days]}, request=request)  # fmt: skip
    return config
