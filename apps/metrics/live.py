"""After each sweep: render each changed widget once and send it to the groups that show it, skipping
groups nobody watches (collection for history and alerts goes on regardless)."""

from __future__ import annotations

import json

from django.template.loader import render_to_string
from django.utils.html import format_html

from apps.containers.models import Container
from apps.containers.selectors import hosts_for_list
from apps.core.live import group_name, push_many, watched
from apps.hosts.models import Host
from apps.metrics import store
from apps.metrics.formatting import metric_cells

HOST_CARD = "hosts/widgets/host_card.html"
CONTAINER_NOW = "metrics/widgets/container_now.html"
HOST_NOW = "metrics/widgets/host_now.html"


def feed_id(kind: str, pk: int) -> str:
    """The id of the element a host's or a container's charts read their live points from."""
    return f"feed-{'ctr' if kind == 'container' else kind}-{pk}"


def feed(kind: str, pk: int, at: float, values: dict) -> str:
    """That element with one sweep's point, swapped in by id like any widget."""
    data = json.dumps({"t": at, **{k: v for k, v in values.items() if isinstance(v, int | float) or v is None}})
    return format_html('<template id="{}" class="chart-feed" data-point="{}"></template>', feed_id(kind, pk), data)


def push_sweep(host: Host, values: dict, recent: list[dict]) -> None:
    containers = store.containers_in(values)
    table_groups = [group_name("containers"), group_name("host", host.pk)]
    # The dashboard watches "hosts" too: sending it the card again would swap it twice.
    card_groups = [group_name("hosts"), group_name("host", host.pk)]
    container_groups = {pk: group_name("container", pk) for pk in containers}
    seen = watched([*table_groups, group_name("hosts"), *container_groups.values()])
    if not seen:
        return
    messages: list[tuple[str, str]] = []
    at = recent[-1]["t"] if recent else 0
    if seen & set(table_groups):
        cells = "".join("".join(metric_cells(pk, figures)) for pk, figures in containers.items())
        messages += [(group, cells) for group in table_groups if group in seen]
    if seen & set(card_groups):
        card = render_to_string(HOST_CARD, {"host": _card_host(host)})
        messages += [(group, card) for group in card_groups if group in seen]
    host_group = group_name("host", host.pk)
    if host_group in seen:
        now = values[store.HOST_SERIES]
        messages.append(
            (host_group, render_to_string(HOST_NOW, {"host": host, "now": now}) + feed("host", host.pk, at, now))
        )
    watched_containers = [pk for pk, group in container_groups.items() if group in seen]
    for container in Container.objects.filter(pk__in=watched_containers):
        now = containers[container.pk]
        html = render_to_string(CONTAINER_NOW, {"c": container, "now": now}) + feed("container", container.pk, at, now)
        messages.append((container_groups[container.pk], html))
    push_many(messages)


def _card_host(host: Host) -> Host:
    return hosts_for_list().get(pk=host.pk)
