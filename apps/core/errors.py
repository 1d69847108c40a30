"""Friendly error pages. htmx requests get a one-line text body that dockmon.js shows
as a toast, instead of an HTML page swapped into a fragment."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import get_template

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    500: "Something went wrong",
}


def _error(request: HttpRequest, status: int, message: str) -> HttpResponse:
    if getattr(request, "htmx", False):
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    return render(request, "error.html", {"status": status, "title": TITLES[status], "message": message}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _error(request, 400, "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    detail = str(exception) if exception and str(exception) else "Your role does not allow this."
    return _error(request, 403, detail)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _error(request, 404, "There is nothing at this address.")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _error(request, 403, "The form was stale or your session expired. Reload the page and try again.")


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors here: the failure may be in one of them, or in the database.
    if getattr(request, "htmx", False):
        return HttpResponse(
            "Something went wrong on the server; it has been logged.",
            status=500,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(get_template("500.html").render({}), status=500)
