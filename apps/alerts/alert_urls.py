from django.urls import path

from apps.alerts import views

urlpatterns = [
    path("alerts/", views.alert_list, name="list"),
    path("alerts/<int:pk>/", views.alert_detail, name="detail"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge, name="acknowledge"),
    path("alerts/<int:pk>/snooze/", views.alert_snooze, name="snooze"),
    path("alerts/<int:pk>/resolve/", views.alert_resolve, name="resolve"),
    path("alerts/<int:pk>/comment/", views.alert_comment, name="comment"),
    path("settings/alerts/", views.alert_settings, name="settings"),
]
