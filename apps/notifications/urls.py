from django.urls import path

from apps.notifications import views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.channel_list, name="list"),
    path("notifications/new/", views.channel_new, name="new"),
    path("notifications/new/<slug:kind>/", views.channel_create, name="create"),
    path("notifications/deliveries/", views.delivery_list, name="deliveries"),
    path("notifications/<int:pk>/edit/", views.channel_edit, name="edit"),
    path("notifications/<int:pk>/delete/", views.channel_delete, name="delete"),
    path("notifications/<int:pk>/test/", views.channel_test, name="test"),
]
