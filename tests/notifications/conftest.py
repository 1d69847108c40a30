"""Real receivers on 127.0.0.1 for the notification tests: the recording HTTP server answering like a JSON
API, and an SMTP server that asks for a login and refuses it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from apps.notifications import services
from apps.notifications.kinds import KINDS
from apps.notifications.models import Channel
from tests.fixtures import RecordingServer, Route
from tests.live import free_port


def answer(status: int = 200, *, delay: float = 0.0) -> Route:
    """How the receiver answers a notification: an id when it takes it, the reason when it does not."""
    body = b'{"id": "x"}' if status < 300 else b'{"error": "receiver is down"}'
    return Route(status, body, {"Content-Type": "application/json"}, delay)


@pytest.fixture
def receiver(http_server: RecordingServer) -> RecordingServer:
    """The recording HTTP server, answering every path like a JSON API."""
    http_server.default = answer()
    return http_server


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
