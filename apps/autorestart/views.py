from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.autorestart import restarter, services
from apps.autorestart.forms import PolicyForm, SettingsForm
from apps.autorestart.models import AutoRestartSettings, RestartPolicy
from apps.containers.models import Container
from apps.core import pages
from apps.core.formatting import duration_words
from apps.users.access import capability_required, has_capability
from apps.users.capabilities import Capability

# While an episode runs the card refreshes itself, so "next attempt in 40 s" stays true.
CARD_REFRESH_SECONDS = 5


def _policy(pk: int) -> RestartPolicy:
    return restarter.policy_for(get_object_or_404(Container.objects.select_related("host"), pk=pk))


def _card(request: HttpRequest, policy: RestartPolicy, form: PolicyForm | None = None) -> HttpResponse:
    settings = AutoRestartSettings.load()
    live = policy.enabled and policy.in_episode and policy.gave_up_at is None
    next_in = ""
    if policy.next_attempt_at is not None:
        next_in = duration_words((policy.next_attempt_at - timezone.now()).total_seconds())
    context = {
        "c": policy.container,
        "policy": policy,
        "form": form or PolicyForm(initial={"enabled": policy.enabled, "max_attempts": policy.max_attempts}),
        "may_operate": has_capability(request.user, Capability.CONTAINERS_OPERATE) and not policy.container.is_removed,
        "resettable": bool(policy.attempts or policy.gave_up_at),
        "left_alone": restarter.left_alone_because(policy),
        "next_in": next_in,
        "first_delay": duration_words(settings.first_delay_seconds),
        "max_delay": duration_words(settings.max_delay_seconds),
        "stable_after": duration_words(settings.stable_after_seconds),
        "refresh_seconds": CARD_REFRESH_SECONDS if live else 0,
    }
    return render(request, "autorestart/widgets/card.html", context)


def card(request: HttpRequest, pk: int) -> HttpResponse:
    """The container page's auto-restart card, loaded after the page."""
    return _card(request, _policy(pk))


@capability_required(Capability.CONTAINERS_OPERATE)
@require_POST
def policy_change(request: HttpRequest, pk: int) -> HttpResponse:
    policy = _policy(pk)
    form = PolicyForm(request.POST)
    if not form.is_valid():
        return _card(request, policy, form)
    services.policy_update(actor=request.user, policy=policy, changes=form.cleaned_data, request=request)
    state = "on" if policy.enabled else "off"
    name, attempts = policy.container.name, policy.max_attempts
    messages.success(request, f"Auto-restart of {name} is {state}, with {attempts} attempts.")
    if not request.htmx:
        return redirect("containers:detail", pk)
    return _card(request, policy)


@capability_required(Capability.CONTAINERS_OPERATE)
@require_POST
def policy_reset(request: HttpRequest, pk: int) -> HttpResponse:
    policy = _policy(pk)
    services.policy_reset(actor=request.user, policy=policy, request=request)
    messages.success(request, f"Auto-restart of {policy.container.name} starts afresh.")
    if not request.htmx:
        return redirect("containers:detail", pk)
    return _card(request, policy)


@capability_required(Capability.SETTINGS_MANAGE)
def settings_page(request: HttpRequest) -> HttpResponse:
    return pages.settings_page(
        request,
        form_class=SettingsForm,
        update=services.settings_update,
        saved="Auto-restart settings saved.",
        template="autorestart/settings.html",
    )
