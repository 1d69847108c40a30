from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.agents import services
from apps.hosts.models import Host
from apps.users.access import capability_required
from apps.users.capabilities import Capability
from dockmon_agent.protocol import PATH


def agent_connect_page(request: HttpRequest, host: Host, *, multi_use: bool) -> HttpResponse:
    """A new registration token and the exact commands to run on the remote machine (shown this once)."""
    token = services.token_create(actor=request.user, host=host, multi_use=multi_use, request=request)
    server = settings.EXTERNAL_URL
    context = {
        "host": host,
        "token": token,
        "server": server,
        "socket_url": server.replace("http", "ws", 1) + PATH,
        "plain_ws_warning": urlsplit(server).scheme == "http"
        and urlsplit(server).hostname not in ("127.0.0.1", "localhost", "::1"),
        "multi_use": multi_use,
    }
    return render(request, "agents/connect.html", context)


@capability_required(Capability.HOSTS_MANAGE)
@require_POST
def token_new(request: HttpRequest, pk: int) -> HttpResponse:
    host = get_object_or_404(Host, pk=pk, kind=Host.Kind.AGENT)
    return agent_connect_page(request, host, multi_use=request.POST.get("multi_use") == "on")


@capability_required(Capability.HOSTS_MANAGE)
@require_POST
def credential_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    host = get_object_or_404(Host, pk=pk, kind=Host.Kind.AGENT)
    services.credential_revoke(actor=request.user, host=host, request=request)
    messages.success(request, f"The agent of {host.name} is disconnected; it needs a new token to come back.")
    return redirect("hosts:detail", pk=host.pk)
