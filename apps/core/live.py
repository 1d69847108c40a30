"""Live updates: what a page may watch over /ws/live/, and pushing rendered widgets to it.

A page says what it shows in its WebSocket URL (`/ws/live/?watch=containers,host:3`); the
consumer joins one group per allowed item. A widget is rendered once and the same HTML goes to
every member of the group; the browser's htmx ws extension swaps each top-level element by id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.template.loader import render_to_string

from apps.core.redis_client import shared_redis
from apps.users.access import has_capability
from apps.users.capabilities import Capability

logger = logging.getLogger(__name__)

MAX_WATCHED = 20


@dataclass(frozen=True)
class Watchable:
    capability: Capability | None = None  # None: every signed-in user
    # For items with an id ("host:3"): may this user watch that one? None: anyone allowed above.
    allows: Callable[[object, int], bool] | None = None


WATCHABLE: dict[str, Watchable] = {
    "dashboard": Watchable(),
    "events": Watchable(Capability.AUDIT_VIEW),
}


def register_watchable(kind: str, watchable: Watchable) -> None:
    """Apps add what their pages watch (at start-up, from AppConfig.ready)."""
    WATCHABLE[kind] = watchable


def group_name(kind: str, ident: int | str | None = None) -> str:
    return f"{kind}-{ident}" if ident is not None else kind


def user_group(user_pk: int) -> str:
    return group_name("user", user_pk)


def groups_for(user, watch: list[str]) -> list[str]:
    """The groups a signed-in user joins for the watched items; anything not allowed is left out."""
    groups = [user_group(user.pk)]
    for item in watch[:MAX_WATCHED]:
        kind, _, ident = item.partition(":")
        watchable = WATCHABLE.get(kind)
        if watchable is None or (watchable.capability and not has_capability(user, watchable.capability)):
            continue
        if not ident:
            groups.append(group_name(kind))
        elif ident.isdigit() and (watchable.allows is None or watchable.allows(user, int(ident))):
            groups.append(group_name(kind, int(ident)))
    return groups


def watched(groups: list[str]) -> set[str]:
    """The groups that have at least one member now, so a tick renders nothing nobody would see.

    channels-redis keeps each group as a sorted set of its members under `<layer prefix>:group:<name>`.
    """
    if not groups:
        return set()
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    try:
        client = shared_redis()
        pipe = client.pipeline(transaction=False)
        for group in groups:
            pipe.zcard(f"{prefix}:group:{group}")
        counts = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("Cannot tell who watches: %s", exc)
        return set()
    return {group for group, count in zip(groups, counts, strict=True) if count}


def push_html(group: str, html: str) -> None:
    """Send ready HTML to a group. Live updates are best effort: a Redis outage is logged, not raised."""
    push_many([(group, html)])


def push_many(messages: list[tuple[str, str]]) -> None:
    """Send several (group, html) messages in one trip into the event loop."""
    messages = [(group, html) for group, html in messages if html.strip()]
    if not messages:
        return

    async def send_all() -> None:
        layer = get_channel_layer()
        for group, html in messages:
            await layer.group_send(group, {"type": "widget.html", "html": html})

    try:
        async_to_sync(send_all)()
    except Exception as exc:  # noqa: BLE001 - any channel-layer failure must not break the caller
        logger.warning("Live updates to %s not sent: %s", ", ".join(g for g, _ in messages[:5]), exc)


def push_widget(group: str, template: str, context: dict) -> None:
    push_html(group, render_to_string(template, context))


def push_recent_events() -> None:
    from apps.core.selectors import recent_events

    push_widget("events", "core/widgets/recent_events.html", {"events": recent_events()})
