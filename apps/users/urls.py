from django.urls import path

from apps.users import views

app_name = "users"

urlpatterns = [
    path("setup/", views.setup, name="setup"),
    path("account/theme/", views.theme, name="theme"),
    path("settings/users/", views.user_list, name="list"),
    path("settings/users/new/", views.user_create, name="create"),
    path("settings/users/<int:pk>/", views.user_edit, name="edit"),
    path("settings/users/<int:pk>/password/", views.user_set_password, name="set_password"),
    path("settings/users/<int:pk>/delete/", views.user_delete, name="delete"),
]
