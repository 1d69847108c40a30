"""The whole story on a real busybox httpd container, run by beat's tasks on a real Celery worker:
healthy, unhealthy once httpd is killed, restarted by DockMon, healthy again."""

from __future__ import annotations

import pytest

from apps.core.models import Event
from apps.monitors.models import HealthCheck
from apps.monitors.signals import check_status_changed
from tests.dockerenv.plugin import http_get
from tests.fixtures import heard, wait_until
from tests.scenarios import beat_tick, httpd_under_check

pytestmark = pytest.mark.django_db(transaction=True)

# docker-proxy accepts the connection and then drops or resets it; without the proxy nothing accepts it.
NOTHING_ANSWERS = (
    "The server closed the connection without answering.",
    "The connection failed: Connection reset by peer.",
    "Could not connect: Connection refused.",
)


def test_httpd_killed_turns_unhealthy_is_restarted_and_recovers(
    local_host, run_container, docker_client, celery_worker
):
    container, check = httpd_under_check(local_host, run_container, failure_threshold=2)
    url, row = check.url, check.container
    with heard(check_status_changed) as changes:
        check = beat_tick(check)
        assert (check.status, check.last_status_code) == ("healthy", 200)

        container.exec_run(["killall", "httpd"])
        started_before = docker_client.api.inspect_container(container.id)["State"]["StartedAt"]
        check = beat_tick(check)
        assert (check.status, check.consecutive_failures) == ("healthy", 1)  # below the failure threshold
        assert check.last_error in NOTHING_ANSWERS
        check = beat_tick(check)
        assert check.status == "unhealthy"
        error = check.last_error  # the failure that crossed the threshold is the one announced
        assert error in NOTHING_ANSWERS

        # The same task restarted the container: it really ran again, and httpd with it.
        wait_until(lambda: Event.objects.filter(action="containers.restart").exists(), 20, what="the restart")
        assert docker_client.api.inspect_container(container.id)["State"]["StartedAt"] != started_before
        assert HealthCheck.objects.get(pk=check.pk).restarts_in_episode == 1
        http_get(url)
        check = beat_tick(check)
        assert (check.status, check.restarts_in_episode, check.last_error) == ("healthy", 0, "")

    assert [(change["healthy"], change["error"]) for change in changes] == [(False, error), (True, "")]
    trail = list(
        Event.objects.filter(target_id=str(row.pk)).order_by("id").values_list("action", "actor_kind", "message")
    )
    assert [(action, actor) for action, actor, _ in trail] == [
        ("monitors.unhealthy", "system"),
        ("containers.restart", "auto_restart"),
        ("monitors.healthy", "system"),
    ]
    assert trail[0][2] == f"{url}: {error}"
    assert trail[1][2].startswith(f"Health check {url} failing") and trail[1][2].endswith("attempt 1 of 3")
