"""Live updates: which WebSocket groups a user joins, and pushing rendered widgets to them.

A widget is rendered once and the same HTML goes to every member of a group; the
browser's htmx ws extension swaps each top-level element by its id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.template.loader import render_to_string

from apps.users.access import has_capability
from apps.users.capabilities import Capability

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveGroup:
    name: str
    capability: Capability | None = None  # None: every signed-in user


LIVE_GROUPS = [
    LiveGroup("dashboard"),
    LiveGroup("events", Capability.AUDIT_VIEW),
]


def user_group(user_pk: int) -> str:
    return f"user-{user_pk}"


def groups_for(user) -> list[str]:
    """The groups a signed-in user may listen to; decided by capabilities only."""
    allowed = [g.name for g in LIVE_GROUPS if g.capability is None or has_capability(user, g.capability)]
    return [*allowed, user_group(user.pk)]


def push_html(group: str, html: str) -> None:
    """Send ready HTML to a group. Live updates are best effort: a Redis outage is logged, not raised."""
    try:
        async_to_sync(get_channel_layer().group_send)(group, {"type": "widget.html", "html": html})
    except Exception as exc:  # noqa: BLE001 - any channel-layer failure must not break the caller
        logger.warning("Live update to %s not sent: %s", group, exc)


def push_widget(group: str, template: str, context: dict) -> None:
    push_html(group, render_to_string(template, context))


def push_recent_events() -> None:
    from apps.core.selectors import recent_events

    push_widget("events", "core/widgets/recent_events.html", {"events": recent_events()})
