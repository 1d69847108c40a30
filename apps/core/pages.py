"""Page patterns several apps' views share: a filtered table in pages, a redirect htmx follows too, and the
page editing one settings row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django_htmx.http import HttpResponseClientRedirect

PER_PAGE = 50


def paged_table(
    request: HttpRequest, rows: QuerySet, *, page_template: str, table_template: str, table_id: str, **context: Any
) -> HttpResponse:
    """A list page whose table (root element `table_id`, rendering `page` and its pager, see
    core/widgets/pager.html) comes in pages of PER_PAGE; htmx requests aimed at the table get the table alone.

    `query` keeps the page's filters on the pager's links.
    """
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context.update(page=page, query=query.urlencode())
    if request.htmx and request.htmx.target == table_id:
        return render(request, table_template, context)
    return render(request, page_template, context)


def redirect_page(request: HttpRequest, to: str, *args: Any) -> HttpResponse:
    """Go to another page (a URL name with its arguments, or a URL) after an action; an htmx request is
    told to load it as a whole instead of swapping it into the element that sent the request."""
    if request.htmx:
        return HttpResponseClientRedirect(resolve_url(to, *args))
    return redirect(to, *args)


def settings_page(
    request: HttpRequest,
    *,
    form_class: type[ModelForm],
    update: Callable[..., object],
    saved: str,
    template: str,
    **context: Any,
) -> HttpResponse:
    """The page editing a SingleRow settings model through `form_class`: a valid POST goes to
    `update(actor=, changes=, request=)` (the app's service, which saves and audits), says `saved` and
    comes back to the same page."""
    form = form_class(request.POST or None, instance=form_class._meta.model.load())
    if request.method == "POST" and form.is_valid():
        update(actor=request.user, changes=form.cleaned_data, request=request)
        messages.success(request, saved)
        return redirect(request.path)
    return render(request, template, {"form": form, **context})
