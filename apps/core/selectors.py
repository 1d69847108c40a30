"""Reads for core pages."""

from __future__ import annotations

from datetime import datetime, time

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core.models import Event

RECENT_EVENTS = 8


def recent_events(limit: int = RECENT_EVENTS) -> list[Event]:
    return list(Event.objects.all()[:limit])


def events_filtered(params: dict) -> QuerySet[Event]:
    """Events matching the Events page filters (already validated by EventFilterForm)."""
    events = Event.objects.all()
    if params.get("category"):
        events = events.filter(category=params["category"])
    if params.get("severity"):
        events = events.filter(severity=params["severity"])
    if params.get("actor"):
        events = events.filter(actor_name__iexact=params["actor"])
    if params.get("host"):
        events = events.filter(host_name__iexact=params["host"])
    if params.get("q"):
        text = params["q"]
        events = events.filter(
            Q(action__icontains=text)
            | Q(target_name__icontains=text)
            | Q(message__icontains=text)
            | Q(actor_name__icontains=text)
            | Q(host_name__icontains=text)
        )
    tz = timezone.get_current_timezone()
    if params.get("since"):
        events = events.filter(timestamp__gte=datetime.combine(params["since"], time.min, tzinfo=tz))
    if params.get("until"):
        events = events.filter(timestamp__lte=datetime.combine(params["until"], time.max, tzinfo=tz))
    return events


def event_choices() -> dict[str, list[str]]:
    """Values seen in the trail, for the filter drop-downs."""
    return {
        "categories": sorted(Event.objects.order_by().values_list("category", flat=True).distinct()),
        "actors": sorted(Event.objects.order_by().values_list("actor_name", flat=True).distinct()),
        "hosts": sorted(h for h in Event.objects.order_by().values_list("host_name", flat=True).distinct() if h),
    }
