from django.urls import path

from apps.metrics import views

app_name = "metrics"

urlpatterns = [
    path("metrics/containers/<int:pk>/", views.container_series, name="container_series"),
    path("metrics/hosts/<int:pk>/", views.host_series, name="host_series"),
    path("settings/metrics/", views.settings_page, name="settings"),
]
