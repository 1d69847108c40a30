"""Container rows, rendered once per change and reused by everyone: live pushes and page loads alike.

A row's HTML depends only on the row, its host and its tags (times are turned into "3 hours" in the
browser), so it is cached under a key that changes whenever one of those does. The containers page then
costs one query and one cache read for its rows, whatever their number.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache
from django.db.models import prefetch_related_objects
from django.template.loader import render_to_string

from apps.containers.models import Container
from apps.containers.selectors import fleet_summary, hosts_for_list
from apps.core.live import group_name, push_many
from apps.hosts.models import Host
from apps.metrics import store
from apps.metrics.formatting import metric_cells
from apps.tags.services import tags_version

ROW_TEMPLATE = "containers/widgets/container_row.html"
SUMMARY_TEMPLATE = "containers/widgets/container_summary.html"
FLEET_TEMPLATE = "containers/widgets/fleet.html"
HOST_CARD_TEMPLATE = "hosts/widgets/host_card.html"
ROW_CACHE_SECONDS = 24 * 3600
METRICS_MARKER = "__METRIC_CELLS__"


def _row_key(row: Container, tags_version: int) -> str:
    host = row.host
    return (
        f"containers:row:{row.pk}:{row.updated_at.timestamp()}:{host.status}:{host.updated_at.timestamp()}:"
        f"{tags_version}"
    )


def row_html(rows: list[Container]) -> list[str]:
    """Each row's HTML with its latest CPU and memory figures.

    The cached part changes only with the container; the figures change every sweep, so they are set into
    a marker of the cached HTML here (and pushed alone by the collector).
    """
    latest = store.latest_many(sorted({row.host_id for row in rows}))
    return [
        html.replace(
            METRICS_MARKER, "".join(metric_cells(row.pk, latest.get(row.host_id, {}).get(store.series_key(row.pk))))
        )
        for row, html in zip(rows, _cached_row_html(rows), strict=True)
    ]


def _cached_row_html(rows: list[Container]) -> list[str]:
    """Each row's HTML, from the cache where it is fresh, rendered (and cached) where not.

    Rows need `host` loaded; tags are fetched only for the rows that must be rendered.
    """
    version = tags_version()
    keys = [_row_key(row, version) for row in rows]
    cached = cache.get_many(keys)
    missing = [row for row, key in zip(rows, keys, strict=True) if key not in cached]
    if missing:
        prefetch_related_objects(missing, "tags")
        rendered = {_row_key(row, version): render_to_string(ROW_TEMPLATE, {"c": row}) for row in missing}
        cache.set_many(rendered, ROW_CACHE_SECONDS)
        cached.update(rendered)
    return [cached[key] for key in keys]


def _as_new_rows(html: str) -> str:
    # A container nobody has seen yet is appended to the table instead of replacing a row.
    return f'<tbody hx-swap-oob="beforeend:#container-rows">{html}</tbody>' if html else html


def push_rows(rows: Iterable[Container], *, new: bool = False) -> None:
    """Send fresh rows to the containers page and their hosts' pages, and summaries to their own pages."""
    pks = [row.pk for row in rows]
    if not pks:
        return
    fresh = list(Container.objects.filter(pk__in=pks).select_related("host"))
    rendered = dict(zip((row.pk for row in fresh), row_html(fresh), strict=True))
    # New rows go only to unfiltered tables (they may not match a viewer's filters); updates go to all.
    everything = "".join(rendered.values())
    messages = [
        (group_name("containers-new"), _as_new_rows(everything)) if new else (group_name("containers"), everything)
    ]
    by_host: dict[int, list[str]] = {}
    for row in fresh:
        by_host.setdefault(row.host_id, []).append(rendered[row.pk])
        if not new:  # nobody has the page of a container that did not exist a moment ago
            messages.append((group_name("container", row.pk), render_to_string(SUMMARY_TEMPLATE, {"c": row})))
    for host_pk, host_rows in by_host.items():
        html = "".join(host_rows)
        messages.append((group_name("host", host_pk), _as_new_rows(html) if new else html))
    messages.append(_fleet_message())
    push_many(messages)


def _fleet_message() -> tuple[str, str]:
    return group_name("dashboard"), render_to_string(FLEET_TEMPLATE, {"fleet": fleet_summary()})


def push_host_status(host: Host) -> None:
    """A host went down or came back: its card, the dashboard, and its rows (now "unknown", or real again)."""
    card = render_to_string(HOST_CARD_TEMPLATE, {"host": hosts_for_list().get(pk=host.pk)})
    push_many([(group_name("hosts"), card), (group_name("host", host.pk), card)])
    push_rows(Container.objects.filter(host=host).exclude(state=Container.State.REMOVED))
