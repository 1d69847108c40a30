"""Reads for the Alerts pages: the filtered list, one alert's timeline, a container's alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.alerts.alert_forms import OPEN
from apps.alerts.models import Alert
from apps.containers.models import Container
from apps.core.selectors import filtered
from apps.notifications.models import Delivery

CONTAINER_RECENT = 10


def alerts_filtered(params: dict) -> QuerySet[Alert]:
    alerts = Alert.objects.select_related("rule", "container", "host")
    state = params.get("state") or OPEN
    if state == OPEN:
        alerts = alerts.filter(state__in=(Alert.State.FIRING, Alert.State.ACKNOWLEDGED))
    elif state != "all":
        alerts = alerts.filter(state=state)
    return filtered(
        alerts,
        params,
        {"severity": "severity", "kind": "kind", "host": "host_id"},
        search=("title", "target_name", "rule_name", "host_name", "message"),
    )


@dataclass(frozen=True)
class Moment:
    at: datetime
    what: str  # fired, repeated, notification, acknowledged, snoozed, comment, resolved, ...
    text: str
    by: str = ""
    tone: str = ""  # ok, warn, bad: how the page colours it


DELIVERY_TONE = {
    Delivery.Status.SENT: "ok",
    Delivery.Status.DEFERRED: "warn",
    Delivery.Status.PENDING: "",
    Delivery.Status.RETRYING: "warn",
    Delivery.Status.FAILED: "bad",
    Delivery.Status.CANCELLED: "",
}


DELIVERY_WHAT = {"fire": "notification", "repeat": "repeat notification", "resolve": "resolve notification"}


def _delivery_text(delivery: Delivery) -> str:
    text = f"to {delivery.channel_name}: {delivery.get_status_display().lower()}"
    if delivery.status == Delivery.Status.DEFERRED and delivery.not_before:
        text += f" until {timezone.localtime(delivery.not_before):%Y-%m-%d %H:%M}"
    if delivery.attempts > 1:
        text += f" after {delivery.attempts} attempts"
    if delivery.error:
        text += f" — {delivery.error}"
    return text


def alert_timeline(alert: Alert) -> list[Moment]:
    """Everything that happened to the alert, oldest first: its own history, every notification (with
    its outcome) and the comments."""
    moments = []
    for entry in alert.context.get("history") or []:
        at = parse_datetime(entry.get("at", ""))
        if at is not None:
            tone = {"fired": "bad", "resolved": "ok", "not notified": "warn", "deferred": "warn"}.get(entry["what"], "")
            moments.append(Moment(at, entry["what"], entry.get("note", ""), entry.get("by", ""), tone))
    for delivery in Delivery.objects.filter(alert_id=alert.pk).order_by("created_at", "pk"):
        what = DELIVERY_WHAT.get(delivery.kind, "notification")
        moments.append(Moment(delivery.created_at, what, _delivery_text(delivery), tone=DELIVERY_TONE[delivery.status]))
    for note in alert.comments.all():
        moments.append(Moment(note.created_at, "comment", note.text, note.author_name))
    return sorted(moments, key=lambda moment: moment.at)


def container_alerts(container: Container) -> list[Alert]:
    """The container's open alerts first, then its most recent resolved ones."""
    alerts = Alert.objects.filter(container=container)
    open_alerts = list(alerts.exclude(state=Alert.State.RESOLVED).order_by("-fired_at"))
    recent = list(
        alerts.filter(state=Alert.State.RESOLVED).order_by("-fired_at")[: max(CONTAINER_RECENT - len(open_alerts), 3)]
    )
    return open_alerts + recent
