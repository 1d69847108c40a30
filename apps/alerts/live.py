"""Live alerts on every page: the open count beside "Alerts" in the navigation, the dashboard tile, and a
nudge to the Alerts list and an alert's page when something changes.

The count is the same for everyone (every signed-in user sees every alert), so its fragment is rendered
once and pushed to the "alert-count" group that every signed-in page joins. Lists differ per viewer
(filters, page, buttons), so they are sent a tiny element that makes each page fetch its own fresh copy.
"""

from __future__ import annotations

from django.core.cache import cache
from django.template.loader import render_to_string

from apps.alerts.models import Alert
from apps.core.live import Watchable, group_name, push_many, register_watchable

COUNT_GROUP = "alert-count"
LIST_GROUP = "alerts"
ALERT_GROUP = "alert"
COUNT_CACHE_KEY = "alerts:open-count"
COUNT_CACHE_SECONDS = 300
OPEN_STATES = (Alert.State.FIRING, Alert.State.ACKNOWLEDGED)


def register() -> None:
    register_watchable(COUNT_GROUP, Watchable())
    register_watchable(LIST_GROUP, Watchable())
    register_watchable(ALERT_GROUP, Watchable())


def count_open() -> int:
    """Open alerts: neither resolved nor snoozed."""
    return Alert.objects.filter(state__in=OPEN_STATES).count()


def open_count() -> int:
    """The open count as pages show it: cached, since every page of every user shows it."""
    count = cache.get(COUNT_CACHE_KEY)
    if count is None:
        count = count_open()
        cache.set(COUNT_CACHE_KEY, count, COUNT_CACHE_SECONDS)
    return count


def badge_html(count: int) -> str:
    return render_to_string("alerts/widgets/alert_badge.html", {"alert_count": count})


def tile_html(count: int) -> str:
    return render_to_string("alerts/widgets/alert_tile.html", {"alert_count": count})


def alerts_changed(alert_pks: list[int]) -> None:
    """After alerts changed (call once the transaction committed): the fresh count, and a nudge to the list
    and to each changed alert's page. The count goes out every time: comparing with the cached one would miss
    a change whenever a page refilled the cache between the commit and this call."""
    count = count_open()
    cache.set(COUNT_CACHE_KEY, count, COUNT_CACHE_SECONDS)
    messages = [
        (COUNT_GROUP, badge_html(count)),
        (group_name("dashboard"), tile_html(count)),
        (LIST_GROUP, render_to_string("alerts/widgets/alert_list_stamp.html", {"live": True})),
    ]
    for pk in dict.fromkeys(alert_pks):
        html = render_to_string("alerts/widgets/alert_stamp.html", {"alert_pk": pk, "live": True})
        messages.append((group_name(ALERT_GROUP, pk), html))
    push_many(messages)
