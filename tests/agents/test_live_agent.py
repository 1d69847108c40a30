"""The agent as a real process, against the real Docker daemon and DockMon as `make run` starts it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect as ws_connect

from dockmon_agent import protocol
from tests.agents.test_consumer import FACTS
from tests.dockerenv.plugin import docker_host
from tests.live import LiveDockMon

pytestmark = [pytest.mark.slow]

ADMIN, PASSWORD = "admin", "Sturdy-agent-passw0rd"


class Browserless:
    """Signed-in HTTP calls to the live DockMon, as the pages make them."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only, never through a proxy

    def get(self, path: str) -> str:
        return self.http.get(self.base + path, timeout=30).text

    def post(self, path: str, data: dict | None = None) -> requests.Response:
        self.http.get(self.base + "/accounts/login/", timeout=30)  # refreshes the CSRF cookie
        payload = {"csrfmiddlewaretoken": self.http.cookies["csrftoken"], **(data or {})}
        return self.http.post(self.base + path, data=payload, timeout=60, headers={"Referer": self.base + path})

    def sign_in(self) -> None:
        self.post("/accounts/login/", {"login": ADMIN, "password": PASSWORD})
        assert "Dashboard" in self.get("/")


def wait_until(check: Callable[[], object], timeout: float, what: str, step: float = 0.5) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"timed out after {timeout} s waiting for {what}"
        time.sleep(step)
    return time.monotonic() - start


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveDockMon]:
    server = LiveDockMon(tmp_path_factory.mktemp("agent-live"), None, _redis_url(),
                         extra_env={"DOCKMON_ADMIN_USER": ADMIN, "DOCKMON_ADMIN_PASSWORD": PASSWORD})  # fmt: skip
    server.start()
    yield server
    server.stop()
    server.forget()


def _redis_url() -> str:
    from django.conf import settings

    return settings.REDIS_URL


class AgentProcess:
    def __init__(self, live: LiveDockMon, data_dir: Path, token: str = "") -> None:
        self.log = data_dir / "agent.log"
        command = [sys.executable, "-m", "dockmon_agent", "--server", live.url, "--data-dir", str(data_dir),
                   "--name", "e2e-agent"]  # fmt: skip
        if token:
            command += ["--token", token]
        env = {"DOCKER_HOST": docker_host(), "PATH": "/usr/bin:/bin", "DOCKMON_AGENT_TEST_BACKOFF": "fast"}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)


def add_agent_host(app: Browserless, name: str) -> tuple[int, str]:
    page = app.post("/hosts/add/", {"name": name, "kind": "agent", "tags_text": ""}).text
    token = re.search(r"DOCKMON_TOKEN=([\w-]+)", page).group(1)
    host_pk = int(re.search(r'href="/hosts/(\d+)/"', page).group(1))
    return host_pk, token


def host_status(app: Browserless, host_pk: int) -> str:
    match = re.search(r'data-status="(\w+)"', app.get(f"/hosts/{host_pk}/"))
    return match.group(1) if match else ""


def container_pk(app: Browserless, host_pk: int, name: str) -> int | None:
    match = re.search(rf'href="/containers/(\d+)/">{re.escape(name)}<', app.get(f"/hosts/{host_pk}/"))
    return int(match.group(1)) if match else None


def test_an_agent_host_from_registration_to_revocation(live, run_container, tmp_path):
    app = Browserless(live.url)
    app.sign_in()
    host_pk, token = add_agent_host(app, "branch-office")
    agent = AgentProcess(live, tmp_path, token)
    try:
        # Registration: the host comes online and keeps the credential (0600), not the token.
        wait_until(lambda: host_status(app, host_pk) == "online", 30, "the agent host online")
        credential_file = tmp_path / "credential.json"
        assert credential_file.stat().st_mode & 0o777 == 0o600
        assert token not in agent.text() and token not in credential_file.read_text()

        # Its containers are listed, and a stop from the app really stops the container.
        c = run_container(name="agent-web")
        wait_until(lambda: container_pk(app, host_pk, c.name), 20, "the container listed")
        pk = container_pk(app, host_pk, c.name)
        assert app.post(f"/containers/{pk}/stop/").status_code in (200, 302)
        c.reload()
        assert c.status == "exited"

        # Logs and the host's images come through the agent too.
        c.start()
        wait_until(lambda: "testapp: ready" in app.get(f"/containers/{pk}/logs.txt?tail=20"), 20, "the log")
        assert "dockenv/testapp:1" in app.get(f"/hosts/{host_pk}/images/")

        # Malformed and foreign-host messages are refused; the server keeps serving the real agent.
        _misbehave(live, app)
        assert app.post(f"/containers/{pk}/restart/").status_code in (200, 302)
        c.reload()
        assert c.status == "running"

        # The server restarts: the agent is back within 60 s.
        live.stop()
        live.start()
        took = wait_until(lambda: host_status(app, host_pk) == "online", 60, "the agent back after a restart")
        print(f"agent back {took:.1f} s after the server answered again")

        # The agent is killed: the host is offline within 70 s.
        agent.stop(signal.SIGKILL)
        wait_until(lambda: host_status(app, host_pk) == "offline", 70, "the host offline after the agent died")

        # Started again it says hello with its credential; revoked, it is refused and stops for good.
        agent = AgentProcess(live, tmp_path)
        wait_until(lambda: host_status(app, host_pk) == "online", 30, "the agent back with its credential")
        app.post(f"/hosts/{host_pk}/agent/revoke/")
        assert agent.process.wait(timeout=70) == 2
        assert "revoked" in agent.text()
        assert host_status(app, host_pk) == "offline"
    finally:
        agent.stop()


def _misbehave(live: LiveDockMon, app: Browserless) -> None:
    """A second agent, scripted, sends garbage and speaks for another host."""
    other_pk, token = add_agent_host(app, "misbehaving")
    url = live.url.replace("http", "ws", 1) + protocol.PATH
    with ws_connect(url, open_timeout=10) as socket:
        register = protocol.Register(token=token, name="rogue", engine_id="ROGUE-ENGINE", facts=FACTS, separate=True)
        socket.send(protocol.encode(protocol.Message("register", register)))
        assert protocol.decode(socket.recv(timeout=10), sender="server").type == "registered"
        socket.send("this is not JSON")
        assert "not JSON" in _next_error(socket)
        heartbeat = protocol.Heartbeat(host=other_pk + 1000)
        socket.send(protocol.encode(protocol.Message("heartbeat", heartbeat)))
        assert "is refused" in _next_error(socket)


def _next_error(socket) -> str:
    """The next `error` message, skipping the server's requests to this scripted agent."""
    while True:
        message = protocol.decode(socket.recv(timeout=10), sender="server")
        if message.type == "error":
            return message.payload.message
