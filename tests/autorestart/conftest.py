"""Fixtures of the auto-restart tests: short back-off, the real events listener, and what the signals said."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis
from django.conf import settings

from apps.autorestart.models import AutoRestartSettings, RestartPolicy
from apps.autorestart.restarter import policy_for
from apps.autorestart.signals import restart_gave_up, restart_recovered
from apps.containers.inventory import sync_host
from apps.containers.listener import HostWatcher
from apps.containers.models import Container
from apps.containers.signals import container_events
from apps.hosts.engines import engine_for
from apps.hosts.models import Host


def wait_until(check: Callable[[], object], timeout: float = 10.0, step: float = 0.05) -> None:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(step)


def synced(host: Host, name: str) -> Container:
    """The container's row after a full sync of the host (as DockMon does on connect and every ~30 s)."""
    with engine_for(host) as engine:
        sync_host(host, engine)
    return Container.objects.get(host=host, name=name)


def watched(row: Container, *, max_attempts: int = 3, **container_fields) -> RestartPolicy:
    """Turn auto-restart on for the row (and set fields such as desired_state on it)."""
    if container_fields:
        Container.objects.filter(pk=row.pk).update(**container_fields)
        row.refresh_from_db()
    policy = policy_for(row)
    policy.enabled, policy.max_attempts = True, max_attempts
    policy.save()
    return policy


@pytest.fixture
def fast_restarts(db) -> AutoRestartSettings:
    """A back-off of 1, 2, 4, 4 … seconds instead of 30 s doubling to 10 minutes."""
    row = AutoRestartSettings.load()
    row.first_delay_seconds, row.max_delay_seconds = 1, 4
    row.save()
    return row


@pytest.fixture
def create_container(docker_client, docker_prefix, docker_labels, test_image) -> Callable[..., object]:
    """Create (not start) a test-app container owned by this test: its row can be set up before it runs."""

    def create(*cmd: str, name: str, **kwargs):
        return docker_client.containers.create(
            test_image, list(cmd), name=f"{docker_prefix}{name}", labels=docker_labels, **kwargs
        )

    return create


@pytest.fixture
def listen(local_host) -> Iterator[Callable[[], HostWatcher]]:
    """The real Docker events listener following the local host, in a thread."""
    watchers: list[HostWatcher] = []
    client = redis.Redis.from_url(settings.REDIS_URL)

    def start() -> HostWatcher:
        watcher = HostWatcher(local_host.pk, local_host.updated_at, client)
        watcher.start()
        watchers.append(watcher)
        wait_until(lambda: Host.objects.get(pk=local_host.pk).status == Host.Status.ONLINE)
        return watcher

    yield start
    for watcher in watchers:
        watcher.stop()
        watcher.join(5)


@pytest.fixture
def seen_events() -> Iterator[list[tuple[int, str]]]:
    """(container pk, action) of every Docker event the inventory announced, after auto-restart handled it."""
    seen: list[tuple[int, str]] = []

    def note(sender, happenings, **kwargs) -> None:
        seen.extend((happening.container.pk, happening.action) for happening in happenings)

    container_events.connect(note, weak=False, dispatch_uid="tests.autorestart.seen")
    yield seen
    container_events.disconnect(dispatch_uid="tests.autorestart.seen")


@pytest.fixture
def gave_up() -> Iterator[list[dict]]:
    received: list[dict] = []
    restart_gave_up.connect(lambda sender, **kw: received.append(kw), weak=False, dispatch_uid="tests.gave_up")
    yield received
    restart_gave_up.disconnect(dispatch_uid="tests.gave_up")


@pytest.fixture
def recovered() -> Iterator[list[dict]]:
    received: list[dict] = []
    restart_recovered.connect(lambda sender, **kw: received.append(kw), weak=False, dispatch_uid="tests.recovered")
    yield received
    restart_recovered.disconnect(dispatch_uid="tests.recovered")
