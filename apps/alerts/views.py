"""The Alerts pages: the list (filters, live), one alert (context, timeline, actions) and retention.

Every signed-in user sees alerts. Acting on them (acknowledge, snooze, resolve, comment) is incident work,
so it takes the operators' capability `containers.operate` (admins have it too); viewers get 403.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.alerts import services
from apps.alerts.alert_forms import SNOOZE_CHOICES, AlertFilterForm, AlertSettingsForm, CommentForm, SnoozeForm
from apps.alerts.alert_selectors import alert_timeline, alerts_filtered
from apps.alerts.models import Alert, AlertSettings
from apps.users.access import capability_required
from apps.users.capabilities import Capability

ALERTS_PER_PAGE = 50
ACT_ON_ALERTS = Capability.CONTAINERS_OPERATE


def alert_list(request: HttpRequest) -> HttpResponse:
    form = AlertFilterForm(request.GET or None)
    page = Paginator(alerts_filtered(form.params()), ALERTS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    if request.htmx and request.htmx.target == "alert-table":
        return render(request, "alerts/widgets/alert_table.html", context)
    return render(request, "alerts/alert_list.html", context)


def _detail_context(alert: Alert) -> dict:
    rule = alert.rule
    return {
        "alert": alert,
        "timeline": alert_timeline(alert),
        "notified": alert.last_notified_at is not None,
        "rule_has_channels": rule is not None and rule.channels.filter(enabled=True).exists(),
        "snooze_choices": SNOOZE_CHOICES,
    }


def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert.objects.select_related("rule", "container", "host", "acknowledged_by"), pk=pk)
    context = _detail_context(alert)
    if request.htmx and request.htmx.target == "alert-body":
        return render(request, "alerts/widgets/alert_body.html", context)
    context.update(snooze_form=SnoozeForm(), comment_form=CommentForm())
    return render(request, "alerts/alert_detail.html", context)


def _done(request: HttpRequest, alert: Alert, text: str) -> HttpResponse:
    messages.success(request, text)
    return redirect("alerts:detail", alert.pk)


def _refused(request: HttpRequest, alert: Alert, error: Exception | str) -> HttpResponse:
    messages.error(request, str(error))
    return redirect("alerts:detail", alert.pk)


@require_POST
@capability_required(ACT_ON_ALERTS)
def alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    try:
        services.acknowledge(alert, user=request.user, request=request)
    except services.AlertStateError as error:
        return _refused(request, alert, error)
    return _done(request, alert, "Acknowledged: repeats of this alert are no longer notified.")


@require_POST
@capability_required(ACT_ON_ALERTS)
def alert_snooze(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        return _refused(request, alert, " ".join(form.non_field_errors()) or "Choose how long to snooze.")
    try:
        snoozed = services.snooze(alert, user=request.user, until=form.snooze_until(), request=request)
    except services.AlertStateError as error:
        return _refused(request, alert, error)
    return _done(request, alert, f"Snoozed until {snoozed.snoozed_until:%Y-%m-%d %H:%M}.")


@require_POST
@capability_required(ACT_ON_ALERTS)
def alert_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    if not services.resolve(alert, reason=request.POST.get("reason", "").strip()[:150], user=request.user,
                            request=request):  # fmt: skip
        return _refused(request, alert, "This alert is already resolved.")
    return _done(request, alert, "Resolved.")


@require_POST
@capability_required(ACT_ON_ALERTS)
def alert_comment(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    form = CommentForm(request.POST)
    if not form.is_valid():
        return _refused(request, alert, "Write something to add a comment (at most 2000 characters).")
    services.comment(alert, user=request.user, text=form.cleaned_data["text"], request=request)
    return _done(request, alert, "Comment added.")


@capability_required(Capability.SETTINGS_MANAGE)
def alert_settings(request: HttpRequest) -> HttpResponse:
    form = AlertSettingsForm(request.POST or None, instance=AlertSettings.load())
    if request.method == "POST" and form.is_valid():
        services.settings_update(actor=request.user, retention_days=form.cleaned_data["retention_days"],
                                 request=request)  # fmt: skip
        messages.success(request, "Alert settings saved.")
        return redirect("alerts:settings")
    return render(request, "alerts/alert_settings.html", {"form": form})
