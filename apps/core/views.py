from __future__ import annotations

import csv
from collections.abc import Iterator

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from apps.containers.selectors import fleet_summary, hosts_for_list
from apps.core import health, pages, selectors, services
from apps.core.audit import ACTION_LABELS
from apps.core.forms import AppSettingsForm, EventFilterForm
from apps.core.models import Event
from apps.core.navigation import UPCOMING_SECTIONS
from apps.metrics.live_tags import tag_groups
from apps.users.access import capability_required, has_capability
from apps.users.capabilities import Capability


def dashboard(request: HttpRequest) -> HttpResponse:
    fleet = fleet_summary()
    context = {"fleet": fleet, "has_hosts": fleet["hosts"] > 0}
    if context["has_hosts"]:
        context["hosts"] = hosts_for_list()
        context["tag_groups"] = tag_groups()
    if has_capability(request.user, Capability.AUDIT_VIEW):
        context["recent_events"] = selectors.recent_events()
    return render(request, "core/dashboard.html", context)


def system_status(request: HttpRequest) -> HttpResponse:
    """The dashboard's status widget, loaded after the page so a slow check never delays it."""
    return render(request, "core/widgets/system_status.html", {"checks": health.run_checks()})


@login_not_required
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = health.run_checks()
    failing = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "ok" if not failing else "failing", "failing": failing, "checks": checks}
    return JsonResponse(body, status=200 if not failing else 503)


def upcoming(request: HttpRequest, section: str) -> HttpResponse:
    if section not in UPCOMING_SECTIONS:
        raise Http404("No such section.")
    title, description = UPCOMING_SECTIONS[section]
    return render(request, "core/upcoming.html", {"section": section, "title": title, "description": description})


def _filtered_events(request: HttpRequest) -> tuple[EventFilterForm, QuerySet[Event]]:
    form = EventFilterForm(request.GET or None, seen=selectors.event_choices())
    params = form.cleaned_data if form.is_valid() else {}
    return form, selectors.events_filtered(params)


@capability_required(Capability.AUDIT_VIEW)
def events(request: HttpRequest) -> HttpResponse:
    form, matching = _filtered_events(request)
    return pages.paged_table(
        request,
        matching,
        page_template="core/events.html",
        table_template="core/widgets/event_table.html",
        table_id="event-table",
        form=form,
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(events: Iterator[Event]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(
        [
            "time",
            "actor",
            "actor kind",
            "category",
            "action",
            "description",
            "severity",
            "target type",
            "target id",
            "target",
            "host",
            "message",
            "ip",
            "user agent",
            "details",
        ]
    )
    for event in events:
        yield writer.writerow(
            [
                event.timestamp.isoformat(),
                event.actor_name,
                event.actor_kind,
                event.category,
                event.action,
                ACTION_LABELS.get(event.action, event.action),
                event.severity,
                event.target_type,
                event.target_id,
                event.target_name,
                event.host_name,
                event.message,
                event.ip_address or "",
                event.user_agent,
                event.details,
            ]
        )


@capability_required(Capability.AUDIT_VIEW)
def events_export(request: HttpRequest) -> StreamingHttpResponse:
    _, matching = _filtered_events(request)
    filename = f"dockmon-events-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response = StreamingHttpResponse(_csv_rows(matching.iterator(chunk_size=2000)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@capability_required(Capability.SETTINGS_MANAGE)
def settings_page(request: HttpRequest) -> HttpResponse:
    about = {
        "data_dir": settings.DATA_DIR,
        "database": connection.vendor,
        "external_url": settings.EXTERNAL_URL,
        "email": "configured" if settings.EMAIL_CONFIGURED else "not configured (DOCKMON_EMAIL_HOST)",
    }
    return pages.settings_page(
        request,
        form_class=AppSettingsForm,
        update=services.app_settings_update,
        saved="Settings saved.",
        template="core/settings.html",
        about=about,
    )
