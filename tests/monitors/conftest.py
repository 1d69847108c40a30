"""A real HTTP server on 127.0.0.1 that health checks talk to, and helpers of the monitors tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.containers.inventory import sync_host
from apps.containers.models import Container
from apps.hosts.engines import engine_for
from apps.monitors.models import HealthCheck


@dataclass
class Route:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append(Seen(self.command, self.path, dict(self.headers), self.rfile.read(length)))
        route = self.server.routes.get(self.path, Route(404, b"not found"))
        time.sleep(route.delay)
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(route.body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def web() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def synced(host, name: str) -> Container:
    with engine_for(host) as engine:
        sync_host(host, engine)
    return Container.objects.get(host=host, name=name)


@pytest.fixture
def container_row(local_host) -> Container:
    """A container row that needs no real container (for pages and services that do not touch Docker)."""
    return Container.objects.create(host=local_host, name="web", docker_id="f" * 64, state="running")


@pytest.fixture
def make_check(container_row):
    def make(url: str, **fields) -> HealthCheck:
        return HealthCheck.objects.create(container=fields.pop("container", container_row), url=url, **fields)

    return make
