from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404

from apps.containers.models import Container
from apps.core import pages
from apps.hosts.models import Host
from apps.metrics import history, services
from apps.metrics.forms import MetricsSettingsForm, RangeForm
from apps.metrics.tiers import tier_covering
from apps.users.access import capability_required
from apps.users.capabilities import Capability


def _series(request: HttpRequest, host_pk: int, container_pk: int | None) -> JsonResponse:
    form = RangeForm(request.GET)
    if not form.is_valid():
        problems = [str(message) for errors in form.errors.values() for message in errors]
        return JsonResponse({"error": " ".join(problems)}, status=400)
    start, end = form.cleaned_data["start_at"], form.cleaned_data["end_at"]
    tier = tier_covering(form.cleaned_data["reach_seconds"])
    return JsonResponse(history.chart_points(host_pk, container_pk, start, end, tier))


def container_series(request: HttpRequest, pk: int) -> JsonResponse:
    container = get_object_or_404(Container, pk=pk)
    return _series(request, container.host_id, container.pk)


def host_series(request: HttpRequest, pk: int) -> JsonResponse:
    host = get_object_or_404(Host, pk=pk)
    return _series(request, host.pk, None)


@capability_required(Capability.SETTINGS_MANAGE)
def settings_page(request: HttpRequest) -> HttpResponse:
    return pages.settings_page(
        request,
        form_class=MetricsSettingsForm,
        update=services.metrics_settings_update,
        saved="Metrics settings saved.",
        template="metrics/settings.html",
    )
