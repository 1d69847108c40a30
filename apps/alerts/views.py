"""The Alerts pages: the list (filters, live), one alert (context, timeline, actions) and retention.

Every signed-in user sees alerts. Acting on them (acknowledge, snooze, resolve, comment) is incident work,
so it takes the operators' capability `containers.operate` (admins have it too); viewers get 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.alerts import services
from apps.alerts.alert_forms import SNOOZE_CHOICES, AlertFilterForm, AlertSettingsForm, CommentForm, SnoozeForm
from apps.alerts.alert_selectors import alert_timeline, alerts_filtered
from apps.alerts.models import Alert
from apps.core.pages import paged_table, settings_page
from apps.users.access import capability_required
from apps.users.capabilities import Capability

ACT_ON_ALERTS = Capability.CONTAINERS_OPERATE


def alert_list(request: HttpRequest) -> HttpResponse:
    form = AlertFilterForm(request.GET or None)
    return paged_table(
        request,
        alerts_filtered(form.params()),
        page_template="alerts/alert_list.html",
        table_template="alerts/widgets/alert_table.html",
        table_id="alert-table",
        form=form,
    )


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


def _alert_action(act: Callable[[HttpRequest, Alert], str]) -> Callable[[HttpRequest, int], HttpResponse]:
    """A POST acting on one alert, back to its page: `act` returns the sentence saying it is done, or raises
    AlertStateError with the one saying why not."""

    @require_POST
    @capability_required(ACT_ON_ALERTS)
    @wraps(act)
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        alert = get_object_or_404(Alert, pk=pk)
        try:
            messages.success(request, act(request, alert))
        except services.AlertStateError as error:
            messages.error(request, str(error))
        return redirect("alerts:detail", alert.pk)

    return view


@_alert_action
def alert_acknowledge(request: HttpRequest, alert: Alert) -> str:
    services.acknowledge(alert, user=request.user, request=request)
    return "Acknowledged: repeats of this alert are no longer notified."


@_alert_action
def alert_snooze(request: HttpRequest, alert: Alert) -> str:
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        raise services.AlertStateError(" ".join(form.non_field_errors()) or "Choose how long to snooze.")
    snoozed = services.snooze(alert, user=request.user, until=form.snooze_until(), request=request)
    return f"Snoozed until {snoozed.snoozed_until:%Y-%m-%d %H:%M}."


@_alert_action
def alert_resolve(request: HttpRequest, alert: Alert) -> str:
    if not services.resolve(alert, reason=request.POST.get("reason", "").strip()[:150], user=request.user,
                            request=request):  # fmt: skip
        raise services.AlertStateError("This alert is already resolved.")
    return "Resolved."


@_alert_action
def alert_comment(request: HttpRequest, alert: Alert) -> str:
    form = CommentForm(request.POST)
    if not form.is_valid():
        raise services.AlertStateError("Write something to add a comment (at most 2000 characters).")
    services.comment(alert, user=request.user, text=form.cleaned_data["text"], request=request)
    return "Comment added."


@capability_required(Capability.SETTINGS_MANAGE)
def alert_settings(request: HttpRequest) -> HttpResponse:
    return settings_page(
        request,
        form_class=AlertSettingsForm,
        update=services.settings_update,
        saved="Alert settings saved.",
        template="alerts/alert_settings.html",
    )
