from django.urls import path

from apps.agents import views

app_name = "agents"

urlpatterns = [
    path("hosts/<int:pk>/agent/token/", views.token_new, name="token"),
    path("hosts/<int:pk>/agent/revoke/", views.credential_revoke, name="revoke"),
]
