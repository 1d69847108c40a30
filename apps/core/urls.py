from django.urls import path

from apps.core import views

app_name = "core"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("dashboard/system-status/", views.system_status, name="system_status"),
    path("healthz", views.healthz, name="healthz"),
    path("events/", views.events, name="events"),
    path("events/export.csv", views.events_export, name="events_export"),
    path("settings/", views.settings_page, name="settings"),
    path("soon/<slug:section>/", views.upcoming, name="upcoming"),
]
