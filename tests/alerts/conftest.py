"""Fixtures of the alert tests: a real JSON webhook receiver on 127.0.0.1, channels and rules pointing at
it, and the real Docker events listener following the local daemon."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from django.conf import settings

from apps.alerts.models import AlertRule
from apps.containers.listener import HostWatcher
from apps.containers.models import Container
from apps.containers.services import container_desired_state_set
from apps.hosts.models import Host
from apps.notifications.models import Channel


def wait_until(check: Callable[[], object], timeout: float = 15.0, step: float = 0.05) -> object:
    """Poll until check() is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)


@dataclass
class Webhook:
    """What a JSON webhook on 127.0.0.1 received: one dict per POST (apprise's json:// sends title,
    message and type)."""

    url: str
    received: list[dict] = field(default_factory=list)

    def titles(self) -> list[str]:
        return [message.get("title", "") for message in self.received]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the http.server hook, named by it
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hook.received.append(json.loads(body or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()


@pytest.fixture
def channel(db, webhook: Webhook) -> Channel:
    """A "webhook" channel posting JSON to the local receiver, stored as the notifications app stores it."""
    return Channel.objects.create(
        name="ops-hook", kind="webhook", config=json.dumps({"url": webhook.url, "headers": ""})
    )


@pytest.fixture
def make_rule(db, channel: Channel, docker_prefix: str) -> Callable[..., AlertRule]:
    """A rule notifying the webhook channel, watching only this test's containers (the daemon is shared)."""

    def make(kind: str, *, channels: list[Channel] | None = None, **fields) -> AlertRule:
        fields.setdefault("name", f"{kind} rule")
        if kind not in ("host_offline", "host_cpu", "host_memory", "host_disk"):
            fields.setdefault("name_pattern", f"{docker_prefix}*")
        rule = AlertRule.objects.create(kind=kind, **fields)
        rule.channels.set([channel] if channels is None else channels)
        return rule

    return make


@pytest.fixture
def fast_grace(settings) -> None:
    settings.ALERTS_STOP_GRACE_SECONDS = 1


@pytest.fixture
def follow(local_host: Host) -> Iterator[Callable[[], HostWatcher]]:
    """The real events listener on the local daemon: Docker's events reach apply_events and the signals."""
    watchers: list[HostWatcher] = []

    def start() -> HostWatcher:
        watcher = HostWatcher(local_host.pk, local_host.updated_at, redis.Redis.from_url(settings.REDIS_URL))
        watcher.start()
        watchers.append(watcher)
        wait_until(lambda: Host.objects.get(pk=local_host.pk).status == Host.Status.ONLINE)
        return watcher

    yield start
    for watcher in watchers:
        watcher.stop()
        watcher.join(5)


@pytest.fixture
def meant_to_run(local_host: Host, admin) -> Callable[[str], Container]:
    """Mark a container "should run" as a user would: the inventory takes a container it first sees before
    it started (a `docker run` whose create and start events come apart) for an on-demand one, whose
    exits alerts leave alone."""

    def mark(name: str) -> Container:
        row = wait_until(lambda: Container.objects.filter(host=local_host, name=name).first())
        return container_desired_state_set(actor=admin, container=row, desired_state="should_run")

    return mark
