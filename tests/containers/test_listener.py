"""The Docker events listener against real daemons: live updates, locking and outages."""

from __future__ import annotations

import subprocess
import time

import pytest

from apps.containers.listener import HostLock
from apps.containers.models import Container
from apps.core.models import Event
from apps.hosts.models import Host
from tests.fixtures import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def state_of(host: Host, name: str) -> str | None:
    return Container.objects.filter(host=host, name=name).values_list("state", flat=True).first()


def test_docker_stop_on_the_command_line_reaches_the_row_within_a_second(local_host, run_container, follow):
    c = run_container(name="cli")
    follow(local_host)
    wait_until(lambda: state_of(local_host, c.name) == "running")
    started = time.monotonic()
    subprocess.run(["docker", "stop", c.name], check=True, capture_output=True)
    wait_until(lambda: state_of(local_host, c.name) == "exited", timeout=5, step=0.005)
    # The target is well under 1 s (bench/ measures it); the margin keeps a loaded CI machine from flaking.
    assert time.monotonic() - started < 2.5
    wait_until(lambda: Event.objects.filter(action="containers.stop", target_name=c.name).exists(), timeout=3)
    stop = Event.objects.get(action="containers.stop", target_name=c.name)
    assert stop.actor_name == "docker" and stop.host == local_host


def test_new_and_removed_containers_follow_live(local_host, run_container, follow):
    follow(local_host)
    c = run_container(name="late")
    wait_until(lambda: state_of(local_host, c.name) == "running", timeout=3)
    c.remove(force=True)
    wait_until(lambda: state_of(local_host, c.name) == "removed", timeout=3)


def test_only_one_listener_follows_a_host(local_host, redis_client, follow):
    watcher = follow(local_host)
    rival = HostLock(redis_client, local_host.pk)
    assert not rival.acquire()
    watcher.stop()
    watcher.join(5)
    assert rival.acquire()
    rival.release()


def test_a_tls_host_going_down_and_coming_back(tls_host, running_tls_daemon, tls_run_container, follow):
    c = tls_run_container(name="remote-web")
    follow(tls_host)
    wait_until(lambda: state_of(tls_host, c.name) == "running")
    running_tls_daemon.stop()
    wait_until(lambda: Host.objects.get(pk=tls_host.pk).status == Host.Status.OFFLINE, timeout=10)
    down = Event.objects.get(action="hosts.offline", host=tls_host)
    assert down.severity == "error" and down.message
    running_tls_daemon.start()
    wait_until(lambda: Host.objects.get(pk=tls_host.pk).status == Host.Status.ONLINE, timeout=20)
    assert Event.objects.filter(action="hosts.online", host=tls_host).exists()
    # The daemon stopped the container when it shut down; the reconnect sync shows that.
    wait_until(lambda: state_of(tls_host, c.name) == "exited", timeout=5)
