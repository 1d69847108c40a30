from django.urls import path

from apps.tags import views

app_name = "tags"

urlpatterns = [
    path("settings/tags/", views.tag_list, name="list"),
    path("settings/tags/<int:pk>/", views.tag_edit, name="edit"),
    path("settings/tags/<int:pk>/delete/", views.tag_delete, name="delete"),
]
