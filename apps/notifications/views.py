from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.core.pages import paged_table, redirect_page
from apps.core.selectors import filtered
from apps.notifications import services
from apps.notifications.forms import DeliveryFilterForm
from apps.notifications.kinds import KINDS, Kind
from apps.notifications.models import FAILING_AFTER, Channel, Delivery
from apps.users.access import capability_required
from apps.users.capabilities import Capability


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
    return redirect_page(request, "notifications:list")


@capability_required(Capability.ALERTS_MANAGE)
@require_POST
def channel_test(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=pk)
    sent, error = services.send_test(channel, actor=request.user, request=request)
    return render(request, "notifications/widgets/test_result.html", {"channel": channel, "sent": sent, "error": error})


def delivery_list(request: HttpRequest) -> HttpResponse:
    form = DeliveryFilterForm(request.GET or None)
    params = form.cleaned_data if form.is_valid() else {}
    return paged_table(
        request,
        filtered(Delivery.objects.all(), params, {"channel": "channel_name", "status": "status"}),
        page_template="notifications/delivery_list.html",
        table_template="notifications/widgets/delivery_table.html",
        table_id="delivery-table",
        form=form,
    )
