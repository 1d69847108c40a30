"""The host page's Images / Networks / Volumes tabs: one list, remove and prune view for all three kinds."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.hosts import resource_services as services
from apps.hosts.models import Host
from apps.users.access import capability_required
from apps.users.capabilities import Capability
from dockmon_agent.engine.base import Conflict, EngineError, NotFound


def _kind(slug: str) -> services.ResourceKind:
    try:
        return services.KINDS[slug]
    except KeyError:
        raise Http404(f"Hosts have no “{slug}”.") from None


def _widget(request: HttpRequest, host: Host, kind: services.ResourceKind) -> HttpResponse:
    """The tab with its list read live; an unreachable host is a message in the tab, not a failed request."""
    context = {"host": host, "resource_kind": kind}
    try:
        context["rows"] = services.resource_rows(host, kind)
    except EngineError as error:
        context["error"] = error
    return render(request, kind.template, context)


def _done(request: HttpRequest, host: Host, kind: services.ResourceKind) -> HttpResponse:
    # htmx swaps the refreshed tab in (the middleware adds the message as a toast); a plain POST goes back.
    return _widget(request, host, kind) if request.htmx else redirect("hosts:detail", pk=host.pk)


def _failed(request: HttpRequest, host: Host, error: EngineError) -> HttpResponse:
    if not request.htmx:
        messages.error(request, str(error))
        return redirect("hosts:detail", pk=host.pk)
    if isinstance(error, NotFound):
        status = 404
    elif isinstance(error, Conflict):
        status = 409
    else:
        status = 502  # the daemon failed us, not the request
    return HttpResponse(str(error), status=status, content_type="text/plain; charset=utf-8")


@require_GET
def resource_list(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    return _widget(request, get_object_or_404(Host, pk=pk), _kind(kind))


@capability_required(Capability.HOSTS_MANAGE)
@require_POST
def resource_remove(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """Remove the image (tag), network or volume named by the POST field `id`; images also take `force`."""
    host, chosen = get_object_or_404(Host, pk=pk), _kind(kind)
    ref = request.POST.get("id", "").strip()
    if not ref:
        return HttpResponse(
            f"Choose the {chosen.noun} to remove.", status=400, content_type="text/plain; charset=utf-8"
        )
    try:
        row = services.resource_remove(
            actor=request.user, host=host, kind=chosen, ref=ref, force=bool(request.POST.get("force")), request=request
        )
    except EngineError as error:
        return _failed(request, host, error)
    messages.success(request, f"Removed {chosen.noun} {row.label}.")
    return _done(request, host, chosen)


@capability_required(Capability.HOSTS_MANAGE)
@require_POST
def resource_prune(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    host, chosen = get_object_or_404(Host, pk=pk), _kind(kind)
    try:
        result = services.resource_prune(actor=request.user, host=host, kind=chosen, request=request)
    except EngineError as error:
        return _failed(request, host, error)
    messages.success(request, services.prune_summary(chosen, result))
    return _done(request, host, chosen)
