"""The Django admin, behind DockMon's own sign-in page."""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse


class DockMonAdminSite(AdminSite):
    site_header = "DockMon administration"
    site_title = "DockMon admin"
    index_title = "Configuration"

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            # Signed in but not an admin: say no, instead of offering another sign-in form.
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied("The Django admin is for admins only.")
            return inner(request, *args, **kwargs)

        return guarded

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # One sign-in page for the whole app: the admin's own form would bypass allauth's
        # rate limits and two-factor step.
        query = request.GET.urlencode()
        return redirect(reverse("account_login") + (f"?{query}" if query else ""))


class DockMonAdminConfig(AdminConfig):
    default_site = "dockmon.admin.DockMonAdminSite"
