from django.urls import path

from apps.hosts import resources, views

app_name = "hosts"

urlpatterns = [
    path("hosts/", views.host_list, name="list"),
    path("hosts/add/", views.host_add, name="add"),
    path("hosts/test/", views.host_test, name="test"),
    path("hosts/<int:pk>/", views.host_detail, name="detail"),
    path("hosts/<int:pk>/edit/", views.host_edit, name="edit"),
    path("hosts/<int:pk>/test/", views.host_test, name="test_existing"),
    path("hosts/<int:pk>/delete/", views.host_delete, name="delete"),
    path("hosts/<int:pk>/<slug:kind>/", resources.resource_list, name="resources"),
    path("hosts/<int:pk>/<slug:kind>/remove/", resources.resource_remove, name="resource_remove"),
    path("hosts/<int:pk>/<slug:kind>/prune/", resources.resource_prune, name="resource_prune"),
]
