"""The whole story on a real busybox httpd container, run by beat's tasks on a real Celery worker:
healthy, unhealthy once httpd is killed, restarted by DockMon, healthy again."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from apps.core.models import Event
from apps.monitors import tasks
from apps.monitors.models import HealthCheck
from apps.monitors.signals import check_status_changed
from tests.dockerenv.plugin import http_get
from tests.live import free_port

from .conftest import synced

pytestmark = pytest.mark.django_db(transaction=True)

# httpd daemonises, so killing it leaves the container running with nothing answering on 8080.
# The trap lets `docker restart` stop the container at once instead of waiting for its SIGKILL timeout.
HTTPD = "httpd -p 8080 -h /www; trap 'exit 0' TERM; sleep 100000 & wait"
# docker-proxy accepts the connection and then drops or resets it; without the proxy nothing accepts it.
NOTHING_ANSWERS = (
    "The server closed the connection without answering.",
    "The connection failed: Connection reset by peer.",
    "Could not connect: Connection refused.",
)


def wait_until(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.1)
    return value


def beat_tick(check: HealthCheck) -> HealthCheck:
    """Make the check due, run beat's dispatch as beat would, and wait for the worker's result."""
    before = check.results.count()
    HealthCheck.objects.filter(pk=check.pk).update(next_check_at=timezone.now())
    tasks.dispatch.delay()
    wait_until(lambda: check.results.count() > before, what="a new result")
    return HealthCheck.objects.get(pk=check.pk)


def test_httpd_killed_turns_unhealthy_is_restarted_and_recovers(
    local_host, run_container, docker_client, celery_worker
):
    heard = []
    check_status_changed.connect(
        lambda sender, check, healthy, error, **kw: heard.append((healthy, error)),
        weak=False,
        dispatch_uid="test-httpd",
    )
    port = free_port()
    container = run_container("sh", "-c", HTTPD, name="web", ports={"8080/tcp": port})
    url = f"http://127.0.0.1:{port}/health"
    http_get(url)
    row = synced(local_host, container.name)
    check = HealthCheck.objects.create(
        container=row,
        url=url,
        keyword="ok",
        interval_seconds=10,
        failure_threshold=2,
        restart_on_unhealthy=True,
        restart_attempts=3,
        restart_delay_seconds=1,
    )
    try:
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
        wait_until(lambda: Event.objects.filter(action="containers.restart").exists(), what="the restart")
        assert docker_client.api.inspect_container(container.id)["State"]["StartedAt"] != started_before
        assert HealthCheck.objects.get(pk=check.pk).restarts_in_episode == 1
        http_get(url)
        check = beat_tick(check)
        assert (check.status, check.restarts_in_episode, check.last_error) == ("healthy", 0, "")
    finally:
        check_status_changed.disconnect(dispatch_uid="test-httpd")

    assert heard == [(False, error), (True, "")]
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
