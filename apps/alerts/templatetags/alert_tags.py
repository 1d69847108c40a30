"""Alerts on other apps' pages: the navigation's count, the dashboard tile and a container's alerts."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from apps.alerts import live
from apps.alerts.alert_selectors import container_alerts
from apps.alerts.messages import format_duration

register = template.Library()


@register.simple_tag
def alert_badge() -> SafeString:
    return mark_safe(live.badge_html(live.open_count()))  # noqa: S308 - our own rendered template


@register.simple_tag
def alert_tile() -> SafeString:
    return mark_safe(live.tile_html(live.open_count()))  # noqa: S308 - our own rendered template


@register.inclusion_tag("alerts/widgets/alert_container_card.html")
def container_alerts_card(container) -> dict:
    return {"container": container, "alerts": container_alerts(container)}


@register.filter
def duration(seconds: float | None) -> str:
    return format_duration(seconds)


@register.filter
def lines(items: list[str]) -> str:
    """One item per line (in a <pre>)."""
    return "\n".join(items)
