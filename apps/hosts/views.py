from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.agents.views import agent_connect_page
from apps.containers.live import row_html
from apps.containers.models import Container
from apps.containers.selectors import COLUMNS, hosts_for_list, rows_for_table
from apps.core.models import Event
from apps.hosts import services
from apps.hosts.engines import engine_for
from apps.hosts.forms import HostForm
from apps.hosts.models import DIALLED_KINDS, Host
from apps.metrics import store as metrics_store
from apps.tags.services import tags_named
from apps.users.access import capability_required
from apps.users.capabilities import Capability
from dockmon_agent.engine.base import EngineError, HostFacts

STATUS_HISTORY_LENGTH = 20
STATUS_ACTIONS = ("hosts.create", "hosts.update", "hosts.online", "hosts.offline", "hosts.error")


def host_list(request: HttpRequest) -> HttpResponse:
    hosts = hosts_for_list()
    tag = request.GET.get("tag", "")
    if tag:
        hosts = hosts.filter(tags__name=tag)
    return render(request, "hosts/host_list.html", {"hosts": hosts, "tag": tag})


def host_detail(request: HttpRequest, pk: int) -> HttpResponse:
    host = get_object_or_404(hosts_for_list(), pk=pk)
    history = Event.objects.filter(host=host, action__in=STATUS_ACTIONS).order_by("-timestamp")[:STATUS_HISTORY_LENGTH]
    rows = list(rows_for_table().filter(host=host).exclude(state=Container.State.REMOVED).order_by("name"))
    context = {
        "host": host,
        "history": history,
        "row_html": row_html(rows),
        "columns": COLUMNS,
        "now": metrics_store.host_figures(host.pk),
    }
    return render(request, "hosts/host_detail.html", context)


def _connect(candidate: Host) -> tuple[HostFacts | None, EngineError | None]:
    """Ask the (possibly unsaved) host for its facts: (facts, None) or (None, the readable problem)."""
    try:
        with engine_for(candidate) as engine:
            return engine.info(), None
    except EngineError as error:
        return None, error


def _save_if_it_answers(request: HttpRequest, form: HostForm) -> Host | None:
    """Save a host only when DockMon can talk to it: wrong certificates or a non-Docker address are refused
    outright; an unreachable host only when the user says to save it anyway (it may be down right now)."""
    candidate = form.save(commit=False)
    # An agent's host cannot be reached before its agent connects; the others are tried now.
    facts, problem = _connect(candidate) if candidate.kind in DIALLED_KINDS else (None, None)
    if problem is not None and (problem.permanent or not form.cleaned_data["save_unreachable"]):
        hint = "" if problem.permanent else " Tick “Save even if it does not answer now” to add it anyway."
        form.add_error(None, f"Not saved: DockMon could not connect. {problem}{hint}")
        return None
    with transaction.atomic():
        host = services.host_save(
            actor=request.user,
            host=candidate,
            tls_facts=form.tls_facts,
            changed=form.changed_fields(),
            request=request,
        )
        host.tags.set(tags_named(form.cleaned_data["tags_text"]).values())
    if facts is not None:
        services.host_record_contact(host, facts)
    return host


@capability_required(Capability.HOSTS_MANAGE)
def host_add(request: HttpRequest) -> HttpResponse:
    form = HostForm(request.POST or None, request.FILES or None, initial={"kind": Host.Kind.TLS})
    if request.method == "POST" and form.is_valid() and (host := _save_if_it_answers(request, form)):
        if host.kind == Host.Kind.AGENT:
            # The registration token is shown once, on the answer to this request.
            return agent_connect_page(request, host, multi_use=False)
        messages.success(request, f"Host {host.name} added. Its containers appear in a few seconds.")
        return redirect("hosts:detail", pk=host.pk)
    return render(request, "hosts/host_form.html", {"form": form, "adding": True})


@capability_required(Capability.HOSTS_MANAGE)
def host_edit(request: HttpRequest, pk: int) -> HttpResponse:
    host = get_object_or_404(Host, pk=pk)
    form = HostForm(request.POST or None, request.FILES or None, instance=host)
    if request.method == "POST" and form.is_valid() and (saved := _save_if_it_answers(request, form)):
        messages.success(request, f"Host {saved.name} saved.")
        return redirect("hosts:detail", pk=saved.pk)
    return render(request, "hosts/host_form.html", {"form": form, "host": host, "adding": False})


@capability_required(Capability.HOSTS_MANAGE)
@require_POST
def host_test(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """ "Test connection" with what is in the form, before anything is saved."""
    instance = get_object_or_404(Host, pk=pk) if pk else None
    form = HostForm(request.POST, request.FILES or None, instance=instance)
    if not form.is_valid():
        return render(request, "hosts/widgets/test_result.html", {"form_errors": form.errors})
    facts, problem = _connect(form.save(commit=False))
    return render(request, "hosts/widgets/test_result.html", {"facts": facts, "error": problem})


@capability_required(Capability.HOSTS_MANAGE)
@require_POST
def host_delete(request: HttpRequest, pk: int) -> HttpResponse:
    host = get_object_or_404(Host, pk=pk)
    services.host_delete(actor=request.user, host=host, request=request)
    messages.success(request, f"Host {host.name} deleted, with DockMon's records of its containers.")
    return redirect("hosts:list")
