"""The Celery application: worker and beat load their configuration from Django settings
(the CELERY_ prefix) and find tasks in every app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockmon.settings")

app = Celery("dockmon")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
