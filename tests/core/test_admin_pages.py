"""The Django admin lists what alerts, health checks and auto-restart keep, and never shows a secret."""

import pytest

from apps.autorestart.models import RestartPolicy
from apps.containers.models import Container
from apps.monitors.models import HealthCheck

pytestmark = pytest.mark.django_db

SECRET = "s3cret-bearer-token-in-the-admin"


def test_admin_pages_of_checks_and_policies_load_without_the_secret(client_for, admin, local_host):
    row = Container.objects.create(host=local_host, name="web", docker_id="a" * 64, state="running")
    check = HealthCheck.objects.create(container=row, url="http://127.0.0.1:9/health", auth_kind="bearer",
                                       auth_secret=SECRET)  # fmt: skip
    policy = RestartPolicy.objects.create(container=row, enabled=True)
    client = client_for(admin)
    pages = [
        "/admin/monitors/healthcheck/",
        f"/admin/monitors/healthcheck/{check.pk}/change/",
        "/admin/monitors/checkresult/",
        "/admin/autorestart/restartpolicy/",
        f"/admin/autorestart/restartpolicy/{policy.pk}/change/",
        "/admin/alerts/alertrule/",
        "/admin/alerts/alert/",
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert SECRET not in response.content.decode(), path
