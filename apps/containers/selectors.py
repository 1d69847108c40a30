"""Reads for the container pages: one query for the rows, one for their tags, whatever the count."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet

from apps.containers.models import Container
from apps.hosts.models import Host
from apps.tags.models import Tag

# Sort keys users can pick, mapped to columns; "-" in front reverses.
SORTS = {
    "name": ("name", "host__name"),
    "host": ("host__name", "name"),
    "state": ("state", "name"),
    "health": ("health", "name"),
    "image": ("image", "name"),
    "uptime": ("started_at", "name"),
    "created": ("created", "name"),
}
DEFAULT_SORT = "name"
# The table's columns: (sort key or "" when not sortable, heading).
COLUMNS = [
    ("name", "Name"),
    ("host", "Host"),
    ("state", "State"),
    ("image", "Image"),
    ("uptime", "Up"),
    ("", "CPU"),  # the latest sweep's figures (apps.metrics), not sortable: they live in Redis
    ("", "Memory"),
    ("", "Ports"),
    ("", "Tags"),
]
STATE_FILTERS = [*Container.State.choices, ("unknown", "Unknown (host offline)")]
# Conditions that need attention; the dashboard counts them and links to them.
PROBLEMS = {
    "down": Q(desired_state=Container.DesiredState.SHOULD_RUN)
    & ~Q(state__in=[Container.State.RUNNING, Container.State.RESTARTING, Container.State.REMOVED]),
    "unhealthy": Q(health=Container.Health.UNHEALTHY, state=Container.State.RUNNING),
}
PROBLEM_CHOICES = [("", "Everything"), ("down", "Should run but don't"), ("unhealthy", "Unhealthy")]


def containers_for_table() -> QuerySet[Container]:
    return Container.objects.select_related("host").prefetch_related("tags")


def rows_for_table() -> QuerySet[Container]:
    """Just what a table row needs; its tags are fetched only when the row's HTML is not cached."""
    return Container.objects.select_related("host").defer(
        "command", "entrypoint", "labels", "networks", "mounts", "search_text", "status"
    )


@dataclass(frozen=True)
class ContainerFilters:
    host: int | None = None
    state: str = ""
    tag: str = ""
    project: str = ""
    q: str = ""
    show_removed: bool = False
    problem: str = ""  # "down": should run but does not; "unhealthy": its health check fails


def containers_filtered(filters: ContainerFilters, sort: str) -> QuerySet[Container]:
    rows = rows_for_table()
    if filters.host:
        rows = rows.filter(host_id=filters.host)
    unreachable = (Host.Status.OFFLINE, Host.Status.ERROR)
    if filters.state == "unknown":
        rows = rows.filter(host__status__in=unreachable).exclude(state=Container.State.REMOVED)
    elif filters.state:
        rows = rows.filter(state=filters.state)
        if filters.state != Container.State.REMOVED:
            rows = rows.exclude(host__status__in=unreachable)
    elif not filters.show_removed:
        rows = rows.exclude(state=Container.State.REMOVED)
    if filters.tag:
        rows = rows.filter(tags__name=filters.tag)
    if filters.project:
        rows = rows.filter(compose_project=filters.project)
    if filters.q:
        rows = rows.filter(search_text__contains=filters.q.lower())
    if filters.problem:
        rows = rows.filter(PROBLEMS[filters.problem]).exclude(host__status__in=unreachable)
    return rows.order_by(*order_for(sort))


def order_for(sort: str) -> list:
    descending = sort.startswith("-")
    columns = SORTS.get(sort.lstrip("-"), SORTS[DEFAULT_SORT])
    if sort.lstrip("-") == "uptime":
        # Longest-running first reads naturally as "most uptime": oldest start time first.
        descending = not descending
    first = F(columns[0]).desc(nulls_last=True) if descending else F(columns[0]).asc(nulls_last=True)
    return [first, *columns[1:]]


def filter_choices() -> dict:
    return {
        "hosts": list(Host.objects.values_list("pk", "name")),
        "tags": list(Tag.objects.filter(containers__isnull=False).distinct().values_list("name", "colour")),
        "projects": list(
            Container.objects.exclude(compose_project="")
            .order_by("compose_project")
            .values_list("compose_project", flat=True)
            .distinct()
        ),
        "states": STATE_FILTERS,
    }


def hosts_for_list() -> QuerySet[Host]:
    return Host.objects.prefetch_related("tags").annotate(
        running=Count("containers", filter=Q(containers__state=Container.State.RUNNING)),
        total=Count("containers", filter=~Q(containers__state=Container.State.REMOVED)),
    )


def fleet_summary() -> dict:
    """Counts for the dashboard, in two queries."""
    live = Container.objects.exclude(state=Container.State.REMOVED).filter(host__status=Host.Status.ONLINE)
    counts = live.aggregate(
        total=Count("pk"),
        running=Count("pk", filter=Q(state=Container.State.RUNNING)),
        down=Count(
            "pk",
            filter=Q(desired_state=Container.DesiredState.SHOULD_RUN)
            & ~Q(state__in=[Container.State.RUNNING, Container.State.RESTARTING]),
        ),
        unhealthy=Count("pk", filter=Q(health=Container.Health.UNHEALTHY, state=Container.State.RUNNING)),
        stopped=Count("pk", filter=Q(state=Container.State.EXITED)),  # what the tile's link lists
    )
    hosts = list(Host.objects.values_list("name", "status"))
    return {
        **counts,
        "hosts": len(hosts),
        "hosts_online": sum(1 for _, status in hosts if status == Host.Status.ONLINE),
        "offline_hosts": [name for name, status in hosts if status in (Host.Status.OFFLINE, Host.Status.ERROR)],
    }
