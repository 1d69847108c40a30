"""Set-ups that several test packages play through: a busybox httpd under a health check run by beat's
tasks, and containers under auto-restart."""

from __future__ import annotations

from collections.abc import Callable

from django.utils import timezone
from docker.models.containers import Container as DockerContainer

from apps.autorestart.models import RestartPolicy
from apps.autorestart.restarter import policy_for
from apps.containers.models import Container
from apps.hosts.models import Host
from apps.monitors import tasks
from apps.monitors.models import HealthCheck
from tests.dockerenv.plugin import http_get
from tests.fixtures import synced, wait_until
from tests.live import free_port

# httpd daemonises, so killing it leaves the container running with nothing answering on 8080.
# The trap lets `docker restart` stop the container at once instead of waiting for its SIGKILL timeout.
HTTPD = "httpd -p 8080 -h /www; trap 'exit 0' TERM; sleep 100000 & wait"


def httpd_under_check(
    host: Host, run_container: Callable[..., DockerContainer], *, failure_threshold: int
) -> tuple[DockerContainer, HealthCheck]:
    """A busybox httpd container answering on a free port, and a health check of its /health (keyword "ok")
    that restarts it when unhealthy: 3 attempts, 1 s apart."""
    port = free_port()
    container = run_container("sh", "-c", HTTPD, name="web", ports={"8080/tcp": port})
    url = f"http://127.0.0.1:{port}/health"
    http_get(url)
    check = HealthCheck.objects.create(
        container=synced(host, container),
        url=url,
        keyword="ok",
        interval_seconds=10,
        failure_threshold=failure_threshold,
        restart_on_unhealthy=True,
        restart_attempts=3,
        restart_delay_seconds=1,
    )
    return container, check


def beat_tick(check: HealthCheck) -> HealthCheck:
    """Make the check due, run beat's dispatch as beat would, and wait for the worker's result."""
    before = check.results.count()
    HealthCheck.objects.filter(pk=check.pk).update(next_check_at=timezone.now())
    tasks.dispatch.delay()
    wait_until(lambda: check.results.count() > before, timeout=20, step=0.1, what="a new result")
    return HealthCheck.objects.get(pk=check.pk)


def watched(row: Container, *, max_attempts: int = 3, **container_fields) -> RestartPolicy:
    """Turn auto-restart on for the row (and set fields such as desired_state on it)."""
    if container_fields:
        Container.objects.filter(pk=row.pk).update(**container_fields)
        row.refresh_from_db()
    policy = policy_for(row)
    policy.enabled, policy.max_attempts = True, max_attempts
    policy.save()
    return policy
