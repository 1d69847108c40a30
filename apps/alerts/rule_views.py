"""Alert rule pages: every signed-in user reads them; changing them needs alerts.manage."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.alerts import quiet, scope
from apps.alerts.forms import THRESHOLD_KINDS, AlertRuleForm
from apps.alerts.messages import format_duration, sample_message, validate_template
from apps.alerts.models import Alert, AlertRule
from apps.core.audit import record
from apps.core.pages import redirect_page
from apps.users.access import capability_required
from apps.users.capabilities import Capability

RECENT_ALERTS = 20
PREVIEW_CONTAINERS = 12
FORM_FIELDS_TARGET = "rule-fields"


def _rules() -> QuerySet[AlertRule]:
    return AlertRule.objects.prefetch_related(*scope.RULE_RELATIONS).annotate(
        open_alerts=Count("alerts", filter=~Q(alerts__state=Alert.State.RESOLVED)),
        last_fired_at=Max("alerts__fired_at"),
    )


def _summarised(rules: QuerySet[AlertRule]) -> list[AlertRule]:
    """Rules with `scope_words`, the sentences saying what each watches, for the list's rows."""
    listed = list(rules)
    for rule in listed:
        rule.scope_words = scope.describe_scope(rule)
    return listed


def rule_list(request: HttpRequest) -> HttpResponse:
    return render(request, "alerts/rule_list.html", {"rules": _summarised(_rules())})


def conditions_in_words(rule: AlertRule) -> list[str]:
    """When the rule fires, in sentences, for its page."""
    said: list[str] = []
    if rule.kind in THRESHOLD_KINDS and rule.threshold is not None:
        clear = rule.resolve_below
        said.append(f"Fires above {rule.threshold:g} %, resolves below {clear:g} %.")
        if rule.occurrences:
            said.append(f"When above {rule.occurrences} times within {format_duration(rule.window_seconds)}.")
        elif rule.duration_seconds:
            said.append(f"When held for {format_duration(rule.duration_seconds)}.")
        else:
            said.append("At the first sample above.")
    if rule.kind == AlertRule.Kind.RESTART_LOOP:
        said.append(f"{rule.occurrences} restarts within {format_duration(rule.window_seconds)}.")
    if rule.kind == AlertRule.Kind.CONTAINER_STOPPED:
        said.append(
            "Stops made through DockMon and exits of on-demand containers count too."
            if rule.include_intended_stops
            else "Stops made by users through DockMon and exits of on-demand containers do not count."
        )
    said.append(
        f"Repeats are notified at most every {format_duration(rule.cooldown_seconds)}."
        if rule.cooldown_seconds
        else "Every repeat is notified."
    )
    said.append("A notification goes out when it resolves." if rule.notify_on_resolve else "Resolving is silent.")
    return said


def rule_warnings(rule: AlertRule) -> list[str]:
    """Why this rule's alerts might reach nobody, or read oddly."""
    channels = list(rule.channels.all())
    warnings: list[str] = []
    if not channels:
        warnings.append(
            "This rule has no channel: its alerts are recorded in DockMon but nobody is notified. "
            "(A channel it had may have been deleted.) Edit the rule to choose one."
        )
    warnings += [f"Channel {c.name} is disabled: nothing is sent through it." for c in channels if not c.enabled]
    warnings += [
        f"Channel {c.name} is failing: its last {c.consecutive_failures} deliveries failed. "
        f"Last error: {c.last_error or 'not recorded'}"
        for c in channels
        if c.enabled and c.is_failing
    ]
    for label, template in (("title", rule.title_template), ("message", rule.body_template)):
        try:
            validate_template(template)
        except ValidationError as error:
            warnings.append(f"The {label} template is not valid, so the default is used: {error.messages[0]}")
    return warnings


def _quiet_windows(rule: AlertRule) -> tuple[list[quiet.QuietWindow], str]:
    try:
        return quiet.parse_quiet_hours(rule.quiet_hours), ""
    except ValidationError as error:
        return [], error.messages[0]


def rule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(_rules(), pk=pk)
    watches_hosts = rule.kind in scope.HOST_KINDS
    containers = [] if watches_hosts else scope.matching_containers(rule)
    windows, quiet_error = _quiet_windows(rule)
    title, body = sample_message(rule)
    context = {
        "rule": rule,
        "scope_words": scope.describe_scope(rule),
        "watches_hosts": watches_hosts,
        "matched_count": len(containers),
        "matched_preview": containers[:PREVIEW_CONTAINERS],
        "conditions": conditions_in_words(rule),
        "warnings": rule_warnings(rule),
        "quiet_windows": windows,
        "quiet_error": quiet_error,
        "sample_title": title,
        "sample_body": body,
        "recent_alerts": rule.alerts.all()[:RECENT_ALERTS],
    }
    return render(request, "alerts/rule_detail.html", context)


def _form_page(request: HttpRequest, rule: AlertRule | None) -> HttpResponse:
    """New and edit share one page; changing the kind redraws the form's fields with htmx."""
    if request.htmx and request.htmx.target == FORM_FIELDS_TARGET:
        form = AlertRuleForm.redrawn(request.GET, instance=rule)
        return render(request, "alerts/widgets/rule_fields.html", {"form": form})
    initial = {"kind": request.GET["kind"]} if rule is None and request.GET.get("kind") else None
    form = AlertRuleForm(request.POST or None, instance=rule, initial=initial)
    if request.method == "POST" and form.is_valid():
        adding = rule is None
        if adding:
            form.instance.created_by = request.user
        with transaction.atomic():
            saved = form.save()
            record(
                request.user,
                "alerts.rule_create" if adding else "alerts.rule_update",
                saved,
                request=request,
                details={"kind": saved.kind, "changed": [] if adding else form.changed_data},
            )
        messages.success(request, f"Rule {saved.name} {'created' if adding else 'saved'}.")
        return redirect("alerts:rule_detail", pk=saved.pk)
    return render(request, "alerts/rule_form.html", {"form": form, "rule": rule})


@capability_required(Capability.ALERTS_MANAGE)
def rule_new(request: HttpRequest) -> HttpResponse:
    return _form_page(request, None)


@capability_required(Capability.ALERTS_MANAGE)
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_page(request, get_object_or_404(AlertRule, pk=pk))


@capability_required(Capability.ALERTS_MANAGE)
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, pk=pk)
    with transaction.atomic():
        record(request.user, "alerts.rule_delete", rule, request=request, details={"kind": rule.kind})
        rule.delete()
    messages.success(request, f"Rule {rule.name} deleted. Its past alerts stay, under its name.")
    return redirect_page(request, "alerts:rules")


@capability_required(Capability.ALERTS_MANAGE)
@require_POST
def rule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, pk=pk)
    rule.enabled = not rule.enabled
    with transaction.atomic():
        rule.save(update_fields=["enabled", "updated_at"])
        record(
            request.user,
            "alerts.rule_toggle",
            rule,
            request=request,
            message="Enabled" if rule.enabled else "Disabled",
            details={"enabled": rule.enabled},
        )
    if request.htmx:
        (fresh,) = _summarised(_rules().filter(pk=pk))
        return render(request, "alerts/widgets/rule_row.html", {"rule": fresh})
    messages.success(request, f"Rule {rule.name} {'enabled' if rule.enabled else 'disabled'}.")
    return redirect("alerts:rule_detail", pk=rule.pk)
