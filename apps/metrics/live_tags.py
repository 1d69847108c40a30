"""The dashboard's group-by-tag widget: containers per tag with their running count and load."""

from __future__ import annotations

from collections import defaultdict

from django.template.loader import render_to_string

from apps.containers.models import Container, ContainerTag
from apps.core.live import group_name, push_html, watched
from apps.hosts.models import Host
from apps.metrics import store

TEMPLATE = "metrics/widgets/tag_groups.html"


def tag_groups() -> list[dict]:
    """One entry per tag in use: containers, running, CPU and memory summed from the latest sweep."""
    latest = store.latest_many(list(Host.objects.filter(status=Host.Status.ONLINE).values_list("pk", flat=True)))
    figures = {pk: v for values in latest.values() for pk, v in store.containers_in(values).items()}
    groups: dict[tuple[str, str], dict] = defaultdict(lambda: {"total": 0, "running": 0, "cpu": 0.0, "mem": 0})
    links = ContainerTag.objects.exclude(container__state=Container.State.REMOVED).values_list(
        "tag__name", "tag__colour", "container_id", "container__state"
    )
    for name, colour, container_pk, state in links:
        group = groups[(name, colour)]
        group["total"] += 1
        if state == Container.State.RUNNING:
            group["running"] += 1
            now = figures.get(container_pk) or {}
            group["cpu"] += now.get("cpu") or 0
            group["mem"] += now.get("mem") or 0
    return [{"name": name, "colour": colour, **values} for (name, colour), values in sorted(groups.items())]


def push_tag_groups() -> None:
    if group_name("dashboard") in watched([group_name("dashboard")]):
        push_html(group_name("dashboard"), render_to_string(TEMPLATE, {"groups": tag_groups()}))
