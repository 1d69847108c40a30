"""Personas and helpers for every test (healthchecks' alice/bob/charlie idea):
`admin`, `operator`, `viewer` hold the three roles, `outsider` holds none."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

import pytest
import redis
from aiosmtpd.controller import Controller
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.exceptions import ValidationError
from django.dispatch import Signal
from django.test import Client
from docker.models.containers import Container as DockerContainer

from apps.autorestart.models import AutoRestartSettings
from apps.containers.inventory import sync_host
from apps.containers.listener import HostWatcher
from apps.containers.models import Container
from apps.hosts.engines import engine_for
from apps.hosts.models import Host
from apps.users.capabilities import Role
from apps.users.models import User
from dockmon.celery import app as celery_app
from tests.factories import UserFactory
from tests.live import forget_redis_prefix, free_port

PASSWORD = "correct horse battery staple"
T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 15.0, step: float = 0.02, what: str = "the condition") -> T:
    """Poll until check() is truthy; returns that value (a row, a list, True)."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(step)
    return value


def refusal(check: Callable[[str], object], text: str) -> str:
    """The sentence `check` refuses `text` with (it raises ValueError, or Django's ValidationError)."""
    with pytest.raises((ValueError, ValidationError)) as refused:
        check(text)
    return refused.value.messages[0] if isinstance(refused.value, ValidationError) else str(refused.value)


@contextmanager
def heard(signal: Signal) -> Iterator[list[dict]]:
    """The keyword arguments of every sending of `signal` while the block runs."""
    received: list[dict] = []

    def note(sender, **kwargs) -> None:
        received.append(kwargs)

    signal.connect(note, weak=False)
    try:
        yield received
    finally:
        signal.disconnect(note)


def sync_inventory(host: Host) -> None:
    """A full sync of the host's containers, as DockMon does on connect and every ~30 s."""
    with engine_for(host) as engine:
        sync_host(host, engine)


def synced(host: Host, container: str | DockerContainer) -> Container:
    """The row of a container (given by name or as the docker SDK's object) after a full sync of the host."""
    sync_inventory(host)
    return Container.objects.get(host=host, name=container if isinstance(container, str) else container.name)


@pytest.fixture
def admin(db) -> User:
    return UserFactory(username="alice", role=Role.ADMIN)


@pytest.fixture
def operator(db) -> User:
    return UserFactory(username="oscar", role=Role.OPERATOR)


@pytest.fixture
def viewer(db) -> User:
    return UserFactory(username="victor", role=Role.VIEWER)


@pytest.fixture
def outsider(db) -> User:
    return UserFactory(username="olga")


@pytest.fixture
def client_for() -> Callable[[User], Client]:
    """A test client already signed in as the given user."""

    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def user_with_password(db) -> Callable[..., User]:
    def make(username: str = "pat", role: Role = Role.VIEWER) -> User:
        return UserFactory(username=username, role=role, password=PASSWORD)

    return make


@dataclass
class Mailbox:
    """What a real SMTP server on 127.0.0.1 received."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd calls this hook by name
        self.messages.append(BytesParser(policy=policy.default).parsebytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    mailbox = Mailbox(port=free_port())
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    yield mailbox
    controller.stop()


@pytest.fixture
def email_to(smtp_server: Mailbox, settings) -> Mailbox:
    """Point DockMon's e-mail settings at the local SMTP server."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_CONFIGURED = True
    return smtp_server


@dataclass
class Route:
    """What the recording HTTP server answers on one path."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Route:
        return cls(status, b"", {"Location": location})


@dataclass
class Received:
    """One request the recording HTTP server was sent."""

    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


class RecordingServer(ThreadingHTTPServer):
    """A real HTTP server on 127.0.0.1: records every request and answers from `routes` (by path with query),
    or with `default` on any other path."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.routes: dict[str, Route] = {}
        self.default = Route()
        self.requests: list[Received] = []

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def posted_json(self) -> list[dict]:
        """The JSON body of every request so far (apprise's json:// posts title, message and type)."""
        return [request.json() for request in self.requests]

    def titles(self) -> list[str]:
        """The title of every notification posted so far."""
        return [body.get("title", "") for body in self.posted_json()]


class _RecordingHandler(BaseHTTPRequestHandler):
    server: RecordingServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.requests.append(Received(self.command, self.path, dict(self.headers), self.rfile.read(length)))
        route = self.server.routes.get(self.path, self.server.default)
        time.sleep(route.delay)
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(route.body)

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def http_server() -> Iterator[RecordingServer]:
    server = RecordingServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def celery_worker() -> Iterator[None]:
    """A real Celery worker on this run's Redis queue, in a thread (tests using it need transaction=True)."""
    # start_worker sets the root logger's level (to ERROR by default), which would silence the log
    # records later tests look for: keep ours, and put it back afterwards.
    root_level = logging.getLogger().level
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10,
                          loglevel=logging.getLevelName(root_level)):  # fmt: skip
            yield
    finally:
        logging.getLogger().setLevel(root_level)


@pytest.fixture
def local_host(db, docker_client) -> Host:
    """The local Docker daemon as a DockMon host."""
    from tests.dockerenv.plugin import docker_host  # imported late: pytest must load the plugin first

    return Host.objects.create(name="local", kind=Host.Kind.SOCKET, url=docker_host())


@pytest.fixture
def online_host(local_host: Host) -> Host:
    """The local daemon as a host that is online, its containers already synced."""
    sync_inventory(local_host)
    local_host.status = Host.Status.ONLINE
    local_host.save()
    return local_host


@pytest.fixture
def create_container(docker_client, docker_prefix, docker_labels, test_image) -> Callable[..., DockerContainer]:
    """Create (not start) a test-app container owned by this test: its row can be set up before it runs."""

    def create(*cmd: str, name: str, **kwargs) -> DockerContainer:
        return docker_client.containers.create(
            test_image, list(cmd), name=f"{docker_prefix}{name}", labels=docker_labels, **kwargs
        )

    return create


@pytest.fixture
def fast_restarts(db) -> AutoRestartSettings:
    """An auto-restart back-off of 1, 2, 4, 4 … seconds instead of 30 s doubling to 10 minutes."""
    row = AutoRestartSettings.load()
    row.first_delay_seconds, row.max_delay_seconds = 1, 4
    row.save()
    return row


@pytest.fixture
def tls_host(db, running_tls_daemon, tls_certs) -> Host:
    """The second, mutual-TLS daemon as a DockMon host."""
    return Host.objects.create(
        name="remote",
        kind=Host.Kind.TLS,
        url=running_tls_daemon.base_url,
        tls_ca=tls_certs.ca.cert,
        tls_cert=tls_certs.client.cert,
        tls_key=tls_certs.client.key,
    )


def session_cookie(client: Client) -> bytes:
    """The Cookie header value of a signed-in test client, for WebSocket tests."""
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


# Signing in touches the database, which async tests may not do directly: do it in sync fixtures.
@pytest.fixture
def admin_cookie(admin, client_for) -> bytes:
    return session_cookie(client_for(admin))


@pytest.fixture
def viewer_cookie(viewer, client_for) -> bytes:
    return session_cookie(client_for(viewer))


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture
def follow(redis_client) -> Iterator[Callable[[Host], HostWatcher]]:
    """`follow(host)`: the real Docker events listener follows that host (rows, audit, signals) until the test ends.

    Tests using it need @pytest.mark.django_db(transaction=True): the listener writes from its own thread.
    """
    watchers: list[HostWatcher] = []

    def start(host: Host) -> HostWatcher:
        watcher = HostWatcher(host.pk, host.updated_at, redis_client)
        watcher.start()
        watchers.append(watcher)
        wait_until(lambda: Host.objects.get(pk=host.pk).status == Host.Status.ONLINE)
        return watcher

    yield start
    for watcher in watchers:
        watcher.stop()
        watcher.join(5)


@pytest.fixture(scope="session", autouse=True)
def _forget_this_runs_redis_keys() -> Iterator[None]:
    """The run's Redis keys (cache, channel layer, Celery queues) share its prefix: gone at the end."""
    yield
    forget_redis_prefix(settings.REDIS_URL, settings.REDIS_PREFIX)


@pytest.fixture(autouse=True)
def _forget_cached_state(redis_client: redis.Redis) -> Iterator[None]:
    """Rate-limit counters live in the cache, metrics by host id (which the next test reuses): each test
    starts with none.

    Only this run's keys go (the run has its own prefix); never FLUSHDB a shared Redis.
    """
    yield
    for pattern in ("1:*", "metrics:*"):
        keys = list(redis_client.scan_iter(f"{settings.REDIS_PREFIX}:{pattern}", count=500))
        if keys:
            redis_client.delete(*keys)
