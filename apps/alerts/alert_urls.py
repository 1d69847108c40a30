from django.urls import path  # noqa: F401 - filled by the pages of this part

urlpatterns: list = []
