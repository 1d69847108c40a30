"""Real receivers on 127.0.0.1 for the notification tests: an HTTP server recording what it is sent,
and an SMTP server that asks for a login and refuses it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from apps.notifications import services
from apps.notifications.kinds import KINDS
from apps.notifications.models import Channel
from tests.live import free_port


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What a local HTTP server was sent; `status` is what it answers next."""

    port: int = 0
    status: int = 200
    delay: float = 0  # seconds before answering
    requests: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state.requests.append(
                Received(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
            )
            time.sleep(state.delay)
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"id": "x"}' if state.status < 300 else b'{"error": "receiver is down"}')

        do_POST = do_PUT = do_GET = _record

        def log_message(self, *args) -> None:  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


class RefusingAuthenticator:
    """Every login is wrong."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        self.attempts.append(auth_data.login.decode())
        return AuthResult(success=False, handled=False)


class Nobody:
    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd calls this hook by name
        return "250 OK"


@pytest.fixture
def refusing_smtp() -> Iterator[tuple[int, RefusingAuthenticator]]:
    authenticator = RefusingAuthenticator()
    port = free_port()
    controller = Controller(
        Nobody(),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    yield port, authenticator
    controller.stop()


@pytest.fixture
def make_channel(db) -> Callable[..., Channel]:
    """A saved channel of `kind` whose form accepted `fields` (so it is what a user could have made)."""

    def make(kind: str, name: str = "", enabled: bool = True, **fields) -> Channel:
        form_kind = KINDS[kind]
        form = form_kind.form({"name": name or f"my {kind}", "enabled": enabled, **fields}, kind=form_kind)
        assert form.is_valid(), form.errors
        return services.channel_save(
            actor=None,
            channel=None,
            kind=kind,
            name=form.cleaned_data["name"],
            enabled=enabled,
            config=form.config,
        )

    return make


@pytest.fixture
def webhook_channel(make_channel, receiver) -> Channel:
    return make_channel(
        "webhook", name="hook", url=f"{receiver.url}/hook?source=dockmon", headers="X-Token: s3cr3t-header-value"
    )
