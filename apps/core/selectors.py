"""Reads for core pages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time
from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core.models import Event

RECENT_EVENTS = 8


def recent_events(limit: int = RECENT_EVENTS) -> list[Event]:
    return list(Event.objects.all()[:limit])


def filtered(rows: QuerySet, params: Mapping, lookups: Mapping[str, str], search: tuple[str, ...] = ()) -> QuerySet:
    """`rows` narrowed by a filter form's valid values: each param named in `lookups` that has a value filters by
    its lookup; `q` finds its text in any of the `search` fields. Empty values filter nothing."""
    for param, lookup in lookups.items():
        if params.get(param):
            rows = rows.filter(**{lookup: params[param]})
    if search and params.get("q"):
        rows = rows.filter(reduce(or_, (Q(**{f"{name}__icontains": params["q"]}) for name in search)))
    return rows


def events_filtered(params: dict) -> QuerySet[Event]:
    """Events matching the Events page filters (already validated by EventFilterForm)."""
    events = filtered(
        Event.objects.all(),
        params,
        {"category": "category", "severity": "severity", "actor": "actor_name__iexact", "host": "host_name__iexact"},
        search=("action", "target_name", "message", "actor_name", "host_name"),
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
