from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("apps.users.urls")),
    path("", include("apps.agents.urls")),
    path("", include("apps.hosts.urls")),
    path("", include("apps.containers.urls")),
    path("", include("apps.tags.urls")),
    path("", include("apps.metrics.urls")),
    path("", include("apps.notifications.urls")),
    path("", include("apps.alerts.urls")),
    path("", include("apps.monitors.urls")),
    path("", include("apps.autorestart.urls")),
    path("", include("apps.core.urls")),
]

handler400 = "apps.core.errors.bad_request"
handler403 = "apps.core.errors.permission_denied"
handler404 = "apps.core.errors.page_not_found"
handler500 = "apps.core.errors.server_error"
