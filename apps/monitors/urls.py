from django.urls import path

from apps.monitors import views

app_name = "monitors"

# Not "containers/<pk>/<word>/": that shape is the containers app's actions.
urlpatterns = [
    path("containers/<int:pk>/checks/card/", views.container_checks, name="container_checks"),
    path("containers/<int:pk>/checks/add/", views.check_add, name="add"),
    path("checks/<int:pk>/edit/", views.check_edit, name="edit"),
    path("checks/<int:pk>/delete/", views.check_delete, name="delete"),
    path("checks/<int:pk>/test/", views.check_test, name="test"),
]
