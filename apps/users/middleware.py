from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from apps.core.pages import redirect_page
from apps.users.models import User

# Paths that work before the first admin exists.
FIRST_RUN_OPEN_PREFIXES = ("/setup/", "/static/", "/healthz", "/favicon.ico")


class FirstRunMiddleware:
    """While no user exists, every page leads to the setup page that creates the first admin."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            not request.user.is_authenticated
            and not request.path.startswith(FIRST_RUN_OPEN_PREFIXES)
            and not User.objects.exists()
        ):
            return redirect_page(request, "users:setup")
        return self.get_response(request)


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Django's sign-in requirement, with answers that htmx and scripts understand."""

    def handle_no_permission(self, request: HttpRequest, view_func: Callable) -> HttpResponse:
        if request.htmx:
            # A fragment must not be swapped for the sign-in page: send the whole tab there,
            # coming back to the page the user was on.
            current = urlsplit(request.headers.get("HX-Current-URL", "/"))
            back_to = current.path + (f"?{current.query}" if current.query else "")
            return HttpResponseClientRedirect(f"{reverse('account_login')}?{urlencode({'next': back_to})}")
        if request.accepts("application/json") and not request.accepts("text/html"):
            return JsonResponse({"error": "Sign in first."}, status=401)
        return super().handle_no_permission(request, view_func)
