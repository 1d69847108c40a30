from django.urls import path

from apps.containers import views

app_name = "containers"

urlpatterns = [
    path("containers/", views.container_list, name="list"),
    path("containers/bulk/", views.bulk_start, name="bulk"),
    path("containers/jobs/", views.job_list, name="jobs"),
    path("containers/jobs/<int:pk>/", views.job_detail, name="job"),
    path("containers/<int:pk>/", views.container_detail, name="detail"),
    path("containers/<int:pk>/env/", views.container_env, name="env"),
    path("containers/<int:pk>/inspect/", views.container_inspect, name="inspect"),
    path("containers/<int:pk>/logs.txt", views.container_logs_download, name="logs_download"),
    path("containers/<int:pk>/rename/", views.container_rename, name="rename"),
    path("containers/<int:pk>/remove/", views.container_remove, name="remove"),
    path("containers/<int:pk>/tags/", views.container_tags, name="tags"),
    path("containers/<int:pk>/desired-state/", views.container_desired_state, name="desired_state"),
    path("containers/<int:pk>/<slug:action>/", views.container_action, name="action"),
]
