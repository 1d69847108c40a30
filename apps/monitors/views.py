from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.containers.models import Container
from apps.monitors import services
from apps.monitors.forms import HealthCheckForm
from apps.monitors.models import HealthCheck
from apps.users.access import capability_required
from apps.users.capabilities import Capability

RECENT_RESULTS = 20


def _card(request: HttpRequest, container: Container) -> HttpResponse:
    checks = list(container.health_checks.all())
    for check in checks:
        # Oldest first, so the strip reads left to right like time.
        check.recent = list(check.results.all()[:RECENT_RESULTS])[::-1]
    return render(request, "monitors/widgets/checks_card.html", {"c": container, "checks": checks})


def _check(pk: int) -> HealthCheck:
    return get_object_or_404(HealthCheck.objects.select_related("container__host"), pk=pk)


def container_checks(request: HttpRequest, pk: int) -> HttpResponse:
    """The container page's card: every signed-in user may see the checks and their history."""
    return _card(request, get_object_or_404(Container.objects.select_related("host"), pk=pk))


def _form_page(request: HttpRequest, container: Container, check: HealthCheck) -> HttpResponse:
    adding = check.pk is None
    form = HealthCheckForm(request.POST or None, instance=check)
    if request.method == "POST" and form.is_valid():
        check = form.save(commit=False)
        services.check_save(actor=request.user, check=check, changed=form.changed_data, request=request)
        messages.success(request, f"Health check {'added' if adding else 'saved'}: {check.url}")
        return redirect("containers:detail", pk=container.pk)
    context = {"form": form, "c": container, "check": check, "adding": adding}
    return render(request, "monitors/check_form.html", context)


@capability_required(Capability.CONTAINERS_OPERATE)
def check_add(request: HttpRequest, pk: int) -> HttpResponse:
    container = get_object_or_404(Container.objects.select_related("host"), pk=pk)
    return _form_page(request, container, HealthCheck(container=container))


@capability_required(Capability.CONTAINERS_OPERATE)
def check_edit(request: HttpRequest, pk: int) -> HttpResponse:
    check = _check(pk)
    return _form_page(request, check.container, check)


@capability_required(Capability.CONTAINERS_OPERATE)
@require_POST
def check_delete(request: HttpRequest, pk: int) -> HttpResponse:
    check = _check(pk)
    container = check.container
    services.check_delete(actor=request.user, check=check, request=request)
    if request.htmx:
        return _card(request, container)
    messages.success(request, f"Health check deleted: {check.url}")
    return redirect("containers:detail", pk=container.pk)


@capability_required(Capability.CONTAINERS_OPERATE)
@require_POST
def check_test(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Test now": run the check here and now, keep the result, and show the card again."""
    check = _check(pk)
    services.run_check(check)
    if request.htmx:
        return _card(request, check.container)
    return redirect("containers:detail", pk=check.container_id)
