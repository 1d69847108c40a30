from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.containers.models import Container
from apps.metrics import formatting, store
from apps.metrics.live import feed_id
from apps.metrics.tiers import RANGES

register = template.Library()

SPARK_WIDTH, SPARK_HEIGHT = 120, 28


@register.simple_tag
def sparkline(points: list[dict], key: str, ceiling: float | None = None) -> SafeString:
    """A tiny SVG line of `key` over the recent points (no axis: the number beside it says the value)."""
    values = [p.get(key) for p in points]
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return format_html('<svg class="spark" width="{}" height="{}" aria-hidden="true"></svg>', SPARK_WIDTH,
                           SPARK_HEIGHT)  # fmt: skip
    top = ceiling or max(known) or 1
    step = SPARK_WIDTH / (len(values) - 1)
    coordinates = " ".join(
        f"{i * step:.1f},{SPARK_HEIGHT - 2 - (min(v, top) / top) * (SPARK_HEIGHT - 4):.1f}"
        for i, v in enumerate(values)
        if v is not None
    )
    return format_html(
        '<svg class="spark" width="{}" height="{}" viewBox="0 0 {} {}" aria-hidden="true">'
        '<polyline points="{}" fill="none" stroke="currentColor" stroke-width="1.5"/></svg>',
        SPARK_WIDTH, SPARK_HEIGHT, SPARK_WIDTH, SPARK_HEIGHT, coordinates,
    )  # fmt: skip


@register.simple_tag
def chart_ranges() -> list[tuple[str, int]]:
    """The ranges a chart offers, with their length in seconds."""
    return [(key, int(length.total_seconds())) for key, length in RANGES.items()]


@register.inclusion_tag("metrics/widgets/charts.html")
def history_charts(kind: str, pk: int) -> dict:
    """The history charts of a host or a container ("host" or "container"), with their live feed."""
    return {"kind": kind, "series_url": reverse(f"metrics:{kind}_series", args=[pk]), "feed_id": feed_id(kind, pk)}


@register.inclusion_tag("metrics/widgets/host_metrics.html")
def host_metrics(host) -> dict:
    """The live part of a host card: figures, sparklines and the busiest containers."""
    latest = store.latest(host.pk)
    now = latest.get(store.HOST_SERIES)
    busiest = sorted(
        ((pk, figures.get("cpu") or 0) for pk, figures in store.containers_in(latest).items()),
        key=lambda item: item[1],
        reverse=True,
    )[:3]
    names = dict(Container.objects.filter(pk__in=[pk for pk, _ in busiest]).values_list("pk", "name"))
    return {
        "now": now,
        "recent": store.recent(host.pk) if now else [],
        "top": [(pk, names.get(pk, "?"), cpu) for pk, cpu in busiest if pk in names],
    }


def _number(value: object) -> float | None:
    # A figure the latest sweep did not have reaches a template as "" (Django's missing variable).
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


@register.filter
def percent(value) -> str:
    return formatting.percent(_number(value))


@register.filter
def size(value) -> str:
    return formatting.size(_number(value))


@register.filter
def rate(value) -> str:
    return formatting.rate(_number(value))
