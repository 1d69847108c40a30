from __future__ import annotations

import json
import re

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.containers import bulk, services
from apps.containers.forms import BulkForm, ContainerFilterForm, DesiredStateForm, RemoveForm, RenameForm, TagForm
from apps.containers.live import row_html
from apps.containers.logs import LogRequest, line_filter, log_lines
from apps.containers.models import BulkJob, Container
from apps.containers.selectors import (
    COLUMNS,
    DEFAULT_SORT,
    containers_filtered,
    containers_for_table,
    filter_choices,
)
from apps.core.models import Event
from apps.core.pages import redirect_page
from apps.hosts.engines import engine_for
from apps.metrics import store as metrics_store
from apps.tags.models import Tag
from apps.users.access import capability_required, has_capability
from apps.users.capabilities import Capability
from dockmon_agent.engine.base import Action, EngineError

SORT_PREFERENCE = "containers_sort"
MASK = "••••••••"
CONTAINER_EVENTS_SHOWN = 50


def _sort_for(request: HttpRequest, form: ContainerFilterForm) -> str:
    """The sort asked for now, else the one this user chose last time (remembered per user)."""
    asked = form.cleaned_data.get("sort") if form.is_bound and form.is_valid() else ""
    preferences = request.user.preferences
    if asked and preferences.get(SORT_PREFERENCE) != asked:
        preferences[SORT_PREFERENCE] = asked
        request.user.save(update_fields=["preferences"])
    return asked or preferences.get(SORT_PREFERENCE, DEFAULT_SORT)


def container_list(request: HttpRequest) -> HttpResponse:
    form = ContainerFilterForm(request.GET or None, choices=filter_choices())
    sort = _sort_for(request, form)
    rows = list(containers_filtered(form.filters(), sort))
    query = request.GET.copy()
    query.pop("sort", None)
    context = {
        "form": form,
        "row_html": row_html(rows),
        "sort": sort,
        "query": query.urlencode(),
        "columns": COLUMNS,
        "sortable": True,
    }
    if request.htmx and request.htmx.target == "container-table":
        return render(request, "containers/widgets/container_table.html", context)
    context["bulk_form"] = BulkForm()
    return render(request, "containers/container_list.html", context)


def _container(pk: int) -> Container:
    return get_object_or_404(containers_for_table(), pk=pk)


def container_detail(request: HttpRequest, pk: int) -> HttpResponse:
    container = _container(pk)
    context = {
        "c": container,
        "now": metrics_store.container_figures(container.host_id, container.pk),
        "events": Event.objects.filter(target_type="container", target_id=str(container.pk))[:CONTAINER_EVENTS_SHOWN],
        "rename_form": RenameForm(initial={"name": container.name}),
        "remove_form": RemoveForm(),
        "tag_form": TagForm(),
        "desired_form": DesiredStateForm(initial={"desired_state": container.desired_state}),
        "all_tags": Tag.objects.values_list("name", flat=True),
    }
    return render(request, "containers/container_detail.html", context)


def _masked_env(env: list[str], may_see: bool) -> list[tuple[str, str, bool]]:
    """(name, value, masked) per variable; values are hidden without containers.view_env."""
    rows = []
    for item in env:
        name, _, value = item.partition("=")
        rows.append((name, value if may_see else MASK, not may_see))
    return rows


def container_env(request: HttpRequest, pk: int) -> HttpResponse:
    """Environment variables, read live (they are not stored) and masked unless allowed."""
    container = _container(pk)
    may_see = has_capability(request.user, Capability.CONTAINERS_VIEW_ENV)
    try:
        with engine_for(container.host) as engine:
            env = engine.container(container.docker_id).env
    except EngineError as error:
        return render(request, "containers/widgets/env.html", {"c": container, "error": error})
    context = {"c": container, "env": _masked_env(list(env), may_see), "may_see": may_see}
    return render(request, "containers/widgets/env.html", context)


@capability_required(Capability.HOSTS_MANAGE)
def container_inspect(request: HttpRequest, pk: int) -> HttpResponse:
    """Docker's inspect document for admins, environment values masked unless allowed."""
    container = _container(pk)
    try:
        with engine_for(container.host) as engine:
            document = engine.inspect(container.docker_id)
    except EngineError as error:
        return render(request, "containers/widgets/inspect.html", {"c": container, "error": error})
    if not has_capability(request.user, Capability.CONTAINERS_VIEW_ENV):
        config = document.get("Config") or {}
        config["Env"] = [f"{item.partition('=')[0]}={MASK}" for item in config.get("Env") or []]
    text = json.dumps(document, indent=2, sort_keys=True, default=str)
    return render(request, "containers/widgets/inspect.html", {"c": container, "document": text})


def _action_response(request: HttpRequest, container: Container, *, error: str = "") -> HttpResponse:
    """After an action: the widget the button sits in, re-rendered (row or summary), or the page."""
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("containers:detail", pk=container.pk)
    if error:
        return HttpResponse(error, status=409, content_type="text/plain; charset=utf-8")
    fresh = _container(container.pk)
    template = (
        "containers/widgets/container_row.html"
        if request.POST.get("from") == "row"
        else ("containers/widgets/container_summary.html")
    )
    return render(request, template, {"c": fresh})


@require_POST
def container_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    container = _container(pk)
    try:
        chosen = Action(action)
    except ValueError:
        return HttpResponse("Unknown action.", status=400, content_type="text/plain; charset=utf-8")
    if chosen in (Action.RENAME, Action.REMOVE):
        return HttpResponse("Use the rename or remove form.", status=400, content_type="text/plain; charset=utf-8")
    try:
        services.container_act(actor=request.user, container=container, action=chosen, request=request)
    except EngineError as error:
        return _action_response(request, container, error=str(error))
    return _action_response(request, container)


@capability_required(Capability.CONTAINERS_MANAGE)
@require_POST
def container_rename(request: HttpRequest, pk: int) -> HttpResponse:
    container = _container(pk)
    form = RenameForm(request.POST)
    if not form.is_valid():
        return _action_response(request, container, error=" ".join(form.errors["name"]))
    try:
        services.container_act(
            actor=request.user,
            container=container,
            action=Action.RENAME,
            new_name=form.cleaned_data["name"],
            request=request,
        )
    except EngineError as error:
        return _action_response(request, container, error=str(error))
    messages.success(request, f"Renamed to {form.cleaned_data['name']}.")
    return redirect_page(request, "containers:detail", container.pk)


@capability_required(Capability.CONTAINERS_MANAGE)
@require_POST
def container_remove(request: HttpRequest, pk: int) -> HttpResponse:
    container = _container(pk)
    form = RemoveForm(request.POST)
    form.is_valid()
    try:
        services.container_act(
            actor=request.user,
            container=container,
            action=Action.REMOVE,
            remove_volumes=form.cleaned_data.get("remove_volumes", False),
            request=request,
        )
    except EngineError as error:
        return _action_response(request, container, error=str(error))
    messages.success(request, f"Container {container.name} removed from {container.host.name}.")
    return redirect_page(request, "containers:list")


@capability_required(Capability.CONTAINERS_OPERATE)
@require_POST
def container_tags(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a tag (field `name`) or remove one (field `remove`); answers with the tags widget."""
    container = _container(pk)
    if request.POST.get("remove"):
        tag = get_object_or_404(Tag, name=request.POST["remove"])
        services.container_tag_remove(actor=request.user, container=container, tag=tag, request=request)
    else:
        form = TagForm(request.POST)
        if not form.is_valid():
            return HttpResponse("Name the tag.", status=400, content_type="text/plain; charset=utf-8")
        services.container_tag_add(
            actor=request.user, container=container, name=form.cleaned_data["name"], request=request
        )
    return render(request, "containers/widgets/tags.html", {"c": _container(pk), "all_tags": Tag.objects.all()})


@capability_required(Capability.CONTAINERS_OPERATE)
@require_POST
def container_desired_state(request: HttpRequest, pk: int) -> HttpResponse:
    container = _container(pk)
    form = DesiredStateForm(request.POST)
    if form.is_valid():
        services.container_desired_state_set(
            actor=request.user, container=container, desired_state=form.cleaned_data["desired_state"], request=request
        )
    container = _container(pk)
    context = {"c": container, "desired_form": DesiredStateForm(initial={"desired_state": container.desired_state})}
    return render(request, "containers/widgets/desired_state.html", context)


def container_logs_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The last lines as a text file, with the same tail, timestamps and filter as the live panel."""
    container = _container(pk)
    asked = LogRequest.from_query(request.META.get("QUERY_STRING", "").encode())
    try:
        keep = line_filter(asked.pattern, regex=asked.regex, timestamps=asked.timestamps)
        lines = log_lines(container, tail=asked.tail, timestamps=asked.timestamps)
    except re.error as error:
        return HttpResponse(
            f"The filter is not a valid regular expression: {error}",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    except EngineError as error:
        return HttpResponse(str(error), status=502, content_type="text/plain; charset=utf-8")
    body = (line + "\n" for line in lines if keep is None or keep(line))
    response = StreamingHttpResponse(body, content_type="text/plain; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{container.name}-{stamp}.log"'
    return response


@capability_required(Capability.CONTAINERS_OPERATE)
@require_POST
def bulk_start(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in form.errors.items())
        if request.htmx:
            return HttpResponse(f"Nothing started: {problems}", status=400, content_type="text/plain; charset=utf-8")
        messages.error(request, f"Nothing started: {problems}")
        return redirect("containers:list")
    job = bulk.job_create(
        actor=request.user,
        containers=list(form.cleaned_data["containers"].select_related("host")),
        action=form.cleaned_data["action"],
        params=form.params(),
        request=request,
    )
    return redirect_page(request, "containers:job", job.pk)


def job_list(request: HttpRequest) -> HttpResponse:
    jobs = BulkJob.objects.select_related("user").annotate(item_count=Count("items"))
    if not has_capability(request.user, Capability.USERS_MANAGE):
        jobs = jobs.filter(user=request.user)
    return render(request, "containers/job_list.html", {"jobs": jobs[:100]})


def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(BulkJob.objects.select_related("user"), pk=pk)
    if job.user_id != request.user.pk and not has_capability(request.user, Capability.USERS_MANAGE):
        raise PermissionDenied("This job belongs to another user.")
    return render(request, "containers/job_detail.html", {"job": job, "items": job.items.all()})
