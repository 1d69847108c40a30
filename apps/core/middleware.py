from __future__ import annotations

from collections.abc import Callable

from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


class HtmxMessagesMiddleware:
    """Deliver Django messages raised during an htmx request as toasts.

    A full page shows messages in its layout; an htmx fragment has no layout, so the
    messages ride along as an out-of-band swap into the toast area.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            not getattr(request, "htmx", False)
            or "HX-Redirect" in response
            or "HX-Refresh" in response
            or 300 <= response.status_code < 400
            or not response.get("Content-Type", "").startswith("text/html")
            or getattr(response, "streaming", False)
        ):
            return response
        pending = list(get_messages(request))
        if pending:
            response.write(render_to_string("core/widgets/toasts.html", {"messages": pending, "oob": True}))
        return response
