from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.notifications import services
from apps.notifications.forms import DeliveryFilterForm
from apps.notifications.kinds import KINDS, Kind
from apps.notifications.models import FAILING_AFTER, Channel, Delivery
from apps.users.access import capability_required
from apps.users.capabilities import Capability

DELIVERIES_PER_PAGE = 50


def channel_list(request: HttpRequest) -> HttpResponse:
    channels = list(Channel.objects.all())
    for channel in channels:
        channel.summary = services.channel_summary(channel)
        channel.kind_label = KINDS[channel.kind].label if channel.kind in KINDS else channel.kind
    return render(request, "notifications/channel_list.html", {"channels": channels, "failing_after": FAILING_AFTER})


@capability_required(Capability.ALERTS_MANAGE)
def channel_new(request: HttpRequest) -> HttpResponse:
    return render(request, "notifications/channel_new.html", {"kinds": KINDS.values()})


def _kind(key: str) -> Kind:
    if key not in KINDS:
        raise Http404("No such kind of channel.")
    return KINDS[key]


def _channel_form_page(request: HttpRequest, kind: Kind, channel: Channel | None) -> HttpResponse:
    stored = services.channel_config(channel) if channel else None
    form = kind.form(request.POST or None, kind=kind, channel=channel, stored=stored)
    if request.method == "POST" and form.is_valid():
        saved = services.channel_save(
            actor=request.user,
            channel=channel,
            kind=kind.key,
            name=form.cleaned_data["name"],
            enabled=form.cleaned_data["enabled"],
            config=form.config,
            request=request,
        )
        messages.success(request, f"Channel {saved.name} {'saved' if channel else 'added'}. Try “Send test”.")
        return redirect("notifications:list")
    return render(request, "notifications/channel_form.html", {"form": form, "kind": kind, "channel": channel})


@capability_required(Capability.ALERTS_MANAGE)
def channel_create(request: HttpRequest, kind: str) -> HttpResponse:
    return _channel_form_page(request, _kind(kind), None)


@capability_required(Capability.ALERTS_MANAGE)
def channel_edit(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=pk)
    return _channel_form_page(request, _kind(channel.kind), channel)


@capability_required(Capability.ALERTS_MANAGE)
@require_POST
def channel_delete(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=pk)
    services.channel_delete(actor=request.user, channel=channel, request=request)
    messages.success(request, f"Channel {channel.name} deleted. Rules that used it no longer send there.")
    if request.htmx:
        return HttpResponseClientRedirect(reverse("notifications:list"))
    return redirect("notifications:list")


@capability_required(Capability.ALERTS_MANAGE)
@require_POST
def channel_test(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=pk)
    sent, error = services.send_test(channel, actor=request.user, request=request)
    return render(request, "notifications/widgets/test_result.html", {"channel": channel, "sent": sent, "error": error})


def delivery_list(request: HttpRequest) -> HttpResponse:
    form = DeliveryFilterForm(request.GET or None)
    deliveries = Delivery.objects.all()
    if form.is_valid():
        if form.cleaned_data["channel"]:
            deliveries = deliveries.filter(channel_name=form.cleaned_data["channel"])
        if form.cleaned_data["status"]:
            deliveries = deliveries.filter(status=form.cleaned_data["status"])
    page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    if request.htmx and request.htmx.target == "delivery-table":
        return render(request, "notifications/widgets/delivery_table.html", context)
    return render(request, "notifications/delivery_list.html", context)
