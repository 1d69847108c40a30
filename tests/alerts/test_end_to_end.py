"""The issue's stories across apps, on real containers, the real events listener, a real Celery worker and
real receivers: auto-restart giving up reaches an e-mail inbox; a failing HTTP check reaches a webhook and
so does its recovery."""

from __future__ import annotations

import json

import pytest

from apps.alerts.models import Alert
from apps.containers.models import Container
from apps.notifications.models import Channel
from tests.dockerenv.plugin import http_get
from tests.fixtures import synced, wait_until
from tests.scenarios import beat_tick, httpd_under_check, watched

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


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
    follow(local_host)
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
    local_host, run_container, make_rule, http_server
):
    make_rule("check_failing", severity="error")
    container, check = httpd_under_check(local_host, run_container, failure_threshold=1)
    url = check.url
    assert beat_tick(check).status == "healthy"

    container.exec_run(["killall", "httpd"])
    assert beat_tick(check).status == "unhealthy"
    alert = wait_until(lambda: Alert.objects.filter(kind="check_failing", target_key=f"check:{check.pk}").first())
    assert alert.context["check_url"] == url and alert.context["error"]
    first = wait_until(http_server.posted_json)[0]
    assert first["title"] == f"Health check of {container.name} on local is failing" and url in first["message"]

    # DockMon restarted the container (the check's policy); httpd answers again and the check passes.
    http_get(url, timeout=20)
    assert beat_tick(check).status == "healthy"
    wait_until(lambda: Alert.objects.get(pk=alert.pk).state == "resolved")
    wait_until(lambda: len(http_server.requests) == 2)
    assert http_server.titles()[1] == f"Resolved: {first['title']}"
