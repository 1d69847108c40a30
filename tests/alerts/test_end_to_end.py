"""The issue's stories across apps, on real containers, the real events listener, a real Celery worker and
real receivers: auto-restart giving up reaches an e-mail inbox; a failing HTTP check reaches a webhook and
so does its recovery."""

from __future__ import annotations

import json

import pytest

from apps.alerts.models import Alert
from apps.containers.models import Container
from apps.monitors.models import HealthCheck
from apps.notifications.models import Channel
from tests.alerts.conftest import wait_until
from tests.autorestart import conftest as autorestart
from tests.dockerenv.plugin import http_get
from tests.live import free_port
from tests.monitors.test_httpd import HTTPD, beat_tick

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

# The auto-restart tests' fixtures: a short back-off, and containers created before they start.
fast_restarts = autorestart.fast_restarts
create_container = autorestart.create_container
synced, watched = autorestart.synced, autorestart.watched


@pytest.fixture
def mailbox_channel(db, smtp_server) -> Channel:
    config = {"smtp_host": "127.0.0.1", "smtp_port": smtp_server.port, "security": "none",
              "from_address": "dockmon@example.org", "to_addresses": "ops@example.org"}  # fmt: skip
    return Channel.objects.create(name="ops-mail", kind="email", config=json.dumps(config))


def test_auto_restart_giving_up_sends_an_email_with_the_exit_codes_and_the_log_tail(
    local_host, fast_restarts, create_container, follow, make_rule, mailbox_channel, smtp_server
):
    make_rule("restart_gave_up", channels=[mailbox_channel], severity="critical")
    crashing = create_container("exit", "1", "1", name="crashy")
    row = synced(local_host, crashing.name)
    watched(row, desired_state=Container.DesiredState.SHOULD_RUN)
    follow()
    crashing.start()

    alert = wait_until(lambda: Alert.objects.filter(kind="restart_gave_up", container=row).first(), timeout=45)
    assert alert.context["attempts"] == 3 and alert.context["exit_codes"] == [1, 1, 1, 1]
    mail = wait_until(lambda: smtp_server.messages, timeout=15)[0]
    assert mail["Subject"] == f"Auto-restart gave up on {crashing.name} on local"
    body = mail.get_body(("plain", "html")).get_content()
    assert "after 3 attempts" in body and "Last exit codes: 1, 1, 1, 1" in body
    assert "testapp: exiting with 1" in body  # the log tail

    crashing.start()  # someone fixed it and started it: the alert clears
    wait_until(lambda: Alert.objects.get(pk=alert.pk).state == "resolved", timeout=15)


def test_an_http_check_failing_then_passing_again_fires_and_resolves_with_notifications(
    local_host, run_container, make_rule, webhook
):
    make_rule("check_failing", severity="error")
    port = free_port()
    container = run_container("sh", "-c", HTTPD, name="web", ports={"8080/tcp": port})
    url = f"http://127.0.0.1:{port}/health"
    http_get(url)
    row = synced(local_host, container.name)
    check = HealthCheck.objects.create(
        container=row, url=url, keyword="ok", interval_seconds=10, failure_threshold=1,
        restart_on_unhealthy=True, restart_attempts=3, restart_delay_seconds=1,
    )  # fmt: skip
    assert beat_tick(check).status == "healthy"

    container.exec_run(["killall", "httpd"])
    assert beat_tick(check).status == "unhealthy"
    alert = wait_until(lambda: Alert.objects.filter(kind="check_failing", target_key=f"check:{check.pk}").first())
    assert alert.context["check_url"] == url and alert.context["error"]
    first = wait_until(lambda: webhook.received)[0]
    assert first["title"] == f"Health check of {container.name} on local is failing" and url in first["message"]

    # DockMon restarted the container (the check's policy); httpd answers again and the check passes.
    http_get(url, timeout=20)
    assert beat_tick(check).status == "healthy"
    wait_until(lambda: Alert.objects.get(pk=alert.pk).state == "resolved")
    wait_until(lambda: len(webhook.received) == 2)
    assert webhook.titles()[1] == f"Resolved: {first['title']}"
