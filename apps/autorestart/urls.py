from django.urls import path

from apps.autorestart import views

app_name = "autorestart"

urlpatterns = [
    path("auto-restart/containers/<int:pk>/", views.card, name="card"),
    path("auto-restart/containers/<int:pk>/policy/", views.policy_change, name="policy"),
    path("auto-restart/containers/<int:pk>/reset/", views.policy_reset, name="reset"),
    path("settings/auto-restart/", views.settings_page, name="settings"),
]
