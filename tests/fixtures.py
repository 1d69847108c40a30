"""Personas and helpers for every test (healthchecks' alice/bob/charlie idea):
`admin`, `operator`, `viewer` hold the three roles, `outsider` holds none."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
import redis
from aiosmtpd.controller import Controller
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.test import Client

from apps.containers.listener import HostWatcher
from apps.hosts.models import Host
from apps.users.capabilities import Role
from apps.users.models import User
from dockmon.celery import app as celery_app
from tests.factories import UserFactory
from tests.live import forget_redis_prefix, free_port

PASSWORD = "correct horse battery staple"


def wait_until(check: Callable[[], object], timeout: float = 10.0, step: float = 0.02) -> float:
    """Poll until check() is truthy; returns the seconds it took."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(step)
    return time.monotonic() - start


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
