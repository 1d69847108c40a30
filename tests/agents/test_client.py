"""The real agent client against a fake DockMon server, with the real local Docker daemon behind the agent.

The fake server (below) speaks protocol.py with websockets on 127.0.0.1: it registers agents, welcomes them,
sends requests and records every message the agent sends. The agent runs in-process (its back-off shrunk to
fractions of a second), or as a real `python -m dockmon_agent` process where the exit status or signals
matter. No database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import signal
import ssl
import stat
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from docker.client import DockerClient
from docker.models.containers import Container
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame

from dockmon_agent import __version__, protocol
from dockmon_agent.client import EXIT_FINAL, EXIT_OK, Agent
from dockmon_agent.config import CREDENTIAL_FILE, Credential, load_config, save_credential, server_url
from dockmon_agent.engine.base import (
    Action,
    ContainerSnapshot,
    Engine,
    HostFacts,
    HostUnreachable,
    Stream,
)
from dockmon_agent.engine.docker_api import ConnectionSpec, SocketEngine
from tests.dockerenv.certs import generate_tls_certs
from tests.dockerenv.image import READY_MARK
from tests.dockerenv.plugin import TEST_LABEL, docker_host, wait_for_log

HOST = 7
TICKS = "n=0; while :; do echo tick $n; n=$((n + 1)); sleep 0.1; done"
# The fake server's own websockets logging would print the credentials it hands out.
_quiet = logging.getLogger("tests.agents.fake-server")
_quiet.setLevel(logging.INFO)


# --- the fake DockMon -------------------------------------------------------------------------------------------


class AgentConnection:
    """One agent connection as the server sees it: the first message, then everything the agent sent."""

    def __init__(self, ws: ServerConnection, first: protocol.Message) -> None:
        self.ws = ws
        self.first = first
        self.messages: list[protocol.Message] = []
        self.close_code: int | None = None
        self.closed = asyncio.Event()
        self._taken: set[int] = set()
        self._arrived = asyncio.Event()

    def add(self, message: protocol.Message) -> None:
        self.messages.append(message)
        self._arrived.set()

    def close(self, code: int | None) -> None:
        self.close_code = code
        self.closed.set()
        self._arrived.set()

    async def wait_for(
        self, types: str | tuple[str, ...], match: Callable[[Any], bool] = lambda m: True, timeout: float = 15.0
    ) -> protocol.Message:
        """The first message of these types (not returned before) that `match`es."""
        types = (types,) if isinstance(types, str) else types
        async with asyncio.timeout(timeout):
            while True:
                for n, message in enumerate(self.messages):
                    if n not in self._taken and message.type in types and match(message):
                        self._taken.add(n)
                        return message
                if self.closed.is_set():
                    raise AssertionError(f"the agent closed the connection ({self.close_code}) before a {types}")
                self._arrived.clear()
                await self._arrived.wait()

    async def send(self, message: protocol.Message) -> None:
        await self.ws.send(protocol.encode(message))

    async def send_raw(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def request(self, name: str, args: Any = None) -> str:
        request_id = uuid.uuid4().hex
        await self.send(protocol.Message("request", args or protocol.NoArgs(), id=request_id, name=name))
        return request_id

    async def answer(self, request_id: str) -> protocol.Message:
        return await self.wait_for(("reply", "fail"), lambda m: m.id == request_id)

    def chunks(self, request_id: str) -> list[str]:
        return [line for m in self.messages if m.type == "chunk" and m.id == request_id for line in m.payload.lines]


class FakeServer:
    """DockMon's /ws/agent/ as far as an agent can tell. Registers with `token`, knows the credentials it
    handed out (and those a test adds), closes 4401 / 4403 like the real one."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, heartbeat_seconds: int = 1) -> None:
        self.ssl = ssl_context
        self.heartbeat_seconds = heartbeat_seconds
        self.token = secrets.token_urlsafe(16)
        self.credentials: set[str] = set()
        self.port = 0
        self.accepted: asyncio.Queue[AgentConnection] = asyncio.Queue()
        self.problems: list[str] = []
        self._server: Server | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl else 'http'}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await serve(
            self._handle, "127.0.0.1", self.port, ssl=self.ssl, max_size=protocol.MAX_MESSAGE_BYTES, logger=_quiet
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()  # closes every connection with 1001 going away
            await self._server.wait_closed()
            self._server = None

    async def next_connection(self, timeout: float = 15.0) -> AgentConnection:
        return await asyncio.wait_for(self.accepted.get(), timeout)

    async def _handle(self, ws: ServerConnection) -> None:
        first = protocol.decode(await ws.recv(), sender="agent")
        connection = AgentConnection(ws, first)
        if first.type == "register" and first.payload.token == self.token:
            credential = secrets.token_urlsafe(32)
            self.credentials.add(credential)
            await connection.send(protocol.Message("registered", protocol.Registered(HOST, credential)))
        elif first.type == "hello" and first.payload.credential in self.credentials:
            await connection.send(protocol.Message("welcome", protocol.Welcome(HOST, self.heartbeat_seconds)))
        elif first.type == "register":
            await ws.close(protocol.CLOSE_UNAUTHENTICATED, "Unknown registration token.")
        else:
            await ws.close(protocol.CLOSE_REFUSED, "DockMon does not know this agent's credential.")
        self.accepted.put_nowait(connection)
        try:
            async for text in ws:
                try:
                    connection.add(protocol.decode(text, sender="agent"))
                except protocol.ProtocolError as exc:
                    self.problems.append(f"{exc}: {text[:200]!r}")
        except ConnectionClosed:
            pass
        connection.close(ws.close_code)


# --- fixtures -----------------------------------------------------------------------------------------------------


@dataclass
class RunningAgent:
    agent: Agent
    engine: Engine
    task: asyncio.Task[int]

    async def stop(self) -> int:
        self.agent.stop()
        return await asyncio.wait_for(self.task, 15)


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    await fake.start()
    yield fake
    await fake.stop()
    assert not fake.problems, "the agent sent messages that break the protocol"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "agent-data"


@pytest.fixture
async def start_agent(
    server: FakeServer, data_dir: Path, docker_client: DockerClient, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., RunningAgent]]:
    """`start_agent(*flags, token=..., engine=None, server=None)`: the real Agent, run as a task of the test's loop."""
    monkeypatch.setenv("no_proxy", "*")  # loopback, never through a proxy of the environment
    started: list[RunningAgent] = []

    def start(
        *flags: str, token: str | None = None, engine: Engine | None = None, to: FakeServer | None = None
    ) -> RunningAgent:
        target = to or server
        argv = ["--server", target.url, "--data-dir", str(data_dir), *flags]
        if token is not None:
            argv += ["--token", token]
        config = load_config(argv, {"DOCKER_HOST": docker_host()})
        engine = engine or config.engine()
        agent = Agent(config, engine, min_delay=0.05, max_delay=0.3)
        running = RunningAgent(agent, engine, asyncio.create_task(agent.run()))
        started.append(running)
        return running

    yield start
    for running in started:
        if not running.task.done():
            await running.stop()
        running.engine.close()


@pytest.fixture
async def connection(server: FakeServer, start_agent: Callable[..., RunningAgent]) -> AgentConnection:
    """A registered agent's connection, its first heartbeat received."""
    start_agent(token=server.token)
    connection = await server.next_connection()
    await connection.wait_for("heartbeat")
    return connection


@pytest.fixture
def engine(docker_client: DockerClient) -> AsyncIterator[SocketEngine]:
    with SocketEngine(ConnectionSpec(docker_host())) as engine:
        yield engine


def stream_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dockmon-logs"]


async def no_stream_threads(within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while stream_threads():
            await asyncio.sleep(0.05)


async def started(run_container: Callable[..., Container], *args: str, **kwargs: Any) -> Container:
    """A test container, started off the event loop (the agent shares the loop with the test)."""
    container = await asyncio.to_thread(run_container, *args, **kwargs)
    if not args:
        await asyncio.to_thread(wait_for_log, container, READY_MARK)
    return container


# --- registration and authentication ---------------------------------------------------------------------------------


async def test_first_run_registers_and_later_runs_say_hello(
    server: FakeServer,
    start_agent: Callable[..., RunningAgent],
    data_dir: Path,
    docker_client: DockerClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(Frame, "MAX_LOG_SIZE", 3000)  # were frames logged, they would be logged whole
    first = start_agent(token=server.token)
    connection = await server.next_connection()
    register = connection.first
    info = await asyncio.to_thread(docker_client.info)
    assert register.type == "register"
    assert register.payload.token == server.token
    assert (register.payload.engine_id, register.payload.facts.engine_id) == (info["ID"], info["ID"])
    assert register.payload.name == info["Name"]  # Docker's name for the machine, also from inside a container
    assert (register.payload.separate, register.payload.agent_version) == (False, __version__)
    beat = await connection.wait_for("heartbeat")
    assert (beat.payload.host, beat.payload.docker_error) == (HOST, "")
    assert isinstance(beat.payload.facts, HostFacts)

    path = data_dir / CREDENTIAL_FILE
    (credential,) = server.credentials
    assert json.loads(path.read_text()) == {"server": server_url(server.url), "host": HOST, "credential": credential}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert await first.stop() == EXIT_OK
    assert connection.close_code == 1000

    second = start_agent()  # no token this time
    connection = await server.next_connection()
    assert connection.first.type == "hello"
    assert connection.first.payload.credential == credential
    assert connection.first.payload.engine_id == info["ID"]
    await connection.wait_for("heartbeat")
    assert await second.stop() == EXIT_OK

    assert f"Registered with DockMon as host {HOST}" in caplog.text
    assert server.token not in caplog.text
    assert credential not in caplog.text


async def test_a_refused_token_is_final(
    server: FakeServer, start_agent: Callable[..., RunningAgent], data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    running = start_agent(token="not-the-token")
    assert await asyncio.wait_for(running.task, 15) == EXIT_FINAL
    assert (await server.next_connection()).close_code == protocol.CLOSE_UNAUTHENTICATED
    assert "refused the registration token (Unknown registration token.)" in caplog.text
    assert not (data_dir / CREDENTIAL_FILE).exists()
    assert "not-the-token" not in caplog.text


async def test_revoked_credential_exits_the_process_with_status_2(
    server: FakeServer, data_dir: Path, docker_client: DockerClient
) -> None:
    save_credential(data_dir, Credential(server_url(server.url), HOST, "a-revoked-credential"))
    agent = await agent_process(server, data_dir)
    status = await asyncio.wait_for(agent.wait(), 20)
    stderr = (await agent.stderr.read()).decode()
    assert status == EXIT_FINAL, stderr
    assert "DockMon refused this agent (DockMon does not know this agent's credential.)" in stderr
    assert f"delete {data_dir / CREDENTIAL_FILE}" in stderr
    assert "a-revoked-credential" not in stderr
    assert (await server.next_connection()).first.type == "hello"


async def test_sigterm_closes_the_connection_cleanly_and_exits_0(
    server: FakeServer, data_dir: Path, docker_client: DockerClient
) -> None:
    server.credentials.add("known-credential")
    save_credential(data_dir, Credential(server_url(server.url), HOST, "known-credential"))
    agent = await agent_process(server, data_dir)
    try:
        connection = await server.next_connection()
        await connection.wait_for("heartbeat")
        agent.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(agent.wait(), 20)
    finally:
        if agent.returncode is None:
            agent.kill()
    stderr = (await agent.stderr.read()).decode()
    assert status == EXIT_OK, stderr
    await asyncio.wait_for(connection.closed.wait(), 5)
    assert connection.close_code == 1000
    assert "known-credential" not in stderr


async def agent_process(server: FakeServer, data_dir: Path) -> asyncio.subprocess.Process:
    env = os.environ | {"DOCKER_HOST": docker_host(), "no_proxy": "*"}
    env |= {"DOCKMON_SERVER": server.url, "DOCKMON_AGENT_DATA": str(data_dir)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dockmon_agent", "--verbose", env=env, stderr=asyncio.subprocess.PIPE
    )


async def test_the_servers_certificate_is_verified(
    start_agent: Callable[..., RunningAgent], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = generate_tls_certs().write(tmp_path / "tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.server.cert, files.server.key)
    tls_server = FakeServer(context)
    await tls_server.start()
    try:
        # Without the CA the certificate does not verify: the agent says so and keeps trying.
        start_agent(token=tls_server.token, to=tls_server)
        async with asyncio.timeout(10):
            while "The server's certificate does not verify (unable to get local issuer" not in caplog.text:
                await asyncio.sleep(0.05)
        assert tls_server.accepted.empty()
        # With it, the agent registers.
        start_agent("--ca-bundle", str(files.ca), token=tls_server.token, to=tls_server)
        connection = await tls_server.next_connection()
        assert connection.first.type == "register"
        await connection.wait_for("heartbeat")
    finally:
        await tls_server.stop()


# --- requests ------------------------------------------------------------------------------------------------------


async def test_containers_are_what_the_socket_engine_reports(
    connection: AgentConnection,
    run_container: Callable[..., Container],
    docker_prefix: str,
    engine: SocketEngine,
) -> None:
    running = await started(run_container, name="running")
    stopped = await asyncio.to_thread(run_container, "exit", "3", "0", name="exited")
    await asyncio.to_thread(stopped.wait, timeout=10)

    answer = await connection.answer(await connection.request("containers"))
    expected = await asyncio.to_thread(engine.containers)

    assert answer.type == "reply"
    snapshots = protocol.from_wire(list[ContainerSnapshot], answer.payload.result)

    def ours(found: list[ContainerSnapshot]) -> dict[str, ContainerSnapshot]:
        # Docker's status text ("Up 2 seconds") may tick between the two calls.
        return {s.id: replace(s, status="") for s in found if s.labels.get(TEST_LABEL) == docker_prefix}

    assert ours(snapshots) == ours(expected)
    assert set(ours(snapshots)) == {running.id, stopped.id}
    assert ours(snapshots)[stopped.id].exit_code == 3


async def test_act_stop_stops_the_container(
    connection: AgentConnection, run_container: Callable[..., Container]
) -> None:
    container = await started(run_container)
    args = protocol.ActArgs(container.id, Action.STOP, timeout=5)
    answer = await connection.answer(await connection.request("act", args))
    assert (answer.type, answer.payload.result) == ("reply", None)
    await asyncio.to_thread(container.reload)
    assert container.status == "exited"

    # Engine errors cross the wire by class name.
    answer = await connection.answer(await connection.request("act", args))
    assert answer.payload == protocol.Fail("NotModified", "The container is already stopped.")
    answer = await connection.answer(await connection.request("container", protocol.ContainerRef("dm-t-nonesuch")))
    assert answer.payload == protocol.Fail("NotFound", "There is no container “dm-t-nonesuch” on this host.")


async def test_logs_stream_in_chunks_until_cancelled(
    connection: AgentConnection, run_container: Callable[..., Container]
) -> None:
    container = await asyncio.to_thread(run_container, "sh", "-c", TICKS)
    request_id = await connection.request("logs", protocol.LogsArgs(container.id, 0, False, True))
    async with asyncio.timeout(10):
        while len(connection.chunks(request_id)) < 5:
            await connection.wait_for("chunk", lambda m: m.id == request_id)
    lines = connection.chunks(request_id)
    assert lines[:5] == [f"tick {n}" for n in range(int(lines[0].split()[1]), int(lines[0].split()[1]) + 5)]
    assert all(len(m.payload.lines) <= protocol.CHUNK_LINES for m in connection.messages if m.type == "chunk")

    await connection.send(protocol.Message("cancel", protocol.Cancel(), id=request_id))
    await no_stream_threads()  # the engine stream was closed, its reader thread is gone
    await asyncio.sleep(0.3)  # whatever was in flight when we cancelled
    count = len(connection.chunks(request_id))
    await asyncio.sleep(0.5)
    assert len(connection.chunks(request_id)) == count
    assert not [m for m in connection.messages if m.type in ("end", "fail") and m.id == request_id]

    # Without follow, the tail comes and the stream ends.
    request_id = await connection.request("logs", protocol.LogsArgs(container.id, 3, False, False))
    end = await connection.wait_for(("end", "fail"), lambda m: m.id == request_id)
    assert end.type == "end"
    assert [line.split()[0] for line in connection.chunks(request_id)] == ["tick"] * 3


async def test_bad_requests_get_an_error_and_the_connection_stays(
    connection: AgentConnection, docker_client: DockerClient
) -> None:
    await connection.send_raw({"v": 1, "type": "request", "id": "r-1", "name": "format_disk", "payload": {}})
    error = await connection.wait_for("error", lambda m: m.id == "r-1")
    assert error.payload.message == "unknown request 'format_disk'"
    payload = {"container_id": 5}
    await connection.send_raw({"v": 1, "type": "request", "id": "r-2", "name": "container", "payload": payload})
    error = await connection.wait_for("error", lambda m: m.id == "r-2")
    assert error.payload.message == "request.container_id: expected str, got int"
    await connection.send_raw({"v": 1, "type": "request", "name": "info", "payload": {}})
    error = await connection.wait_for("error", lambda m: m.id is None)
    assert error.payload.message == "a request needs an id"
    await connection.send(protocol.Message("error", protocol.Error("the server complains")))

    answer = await connection.answer(await connection.request("info"))
    facts = protocol.from_wire(HostFacts, answer.payload.result)
    assert facts.engine_id == (await asyncio.to_thread(docker_client.info))["ID"]
    assert not connection.closed.is_set()


# --- events, heartbeats and reconnecting ------------------------------------------------------------------------------


async def test_container_events_are_pushed(
    connection: AgentConnection, run_container: Callable[..., Container]
) -> None:
    container = await started(run_container)
    message = await connection.wait_for(
        "events", lambda m: any(e.container_id == container.id and e.action == "start" for e in m.payload.events)
    )
    assert (message.payload.host, message.payload.dropped) == (HOST, 0)
    (event,) = [e for e in message.payload.events if e.container_id == container.id and e.action == "start"]
    assert event.name == container.name


async def test_the_agent_reconnects_and_sends_what_happened_meanwhile(
    server: FakeServer, start_agent: Callable[..., RunningAgent], run_container: Callable[..., Container]
) -> None:
    running = start_agent(token=server.token)
    connection = await server.next_connection()
    await connection.wait_for("heartbeat")
    logs = await asyncio.to_thread(run_container, "sh", "-c", TICKS)
    request_id = await connection.request("logs", protocol.LogsArgs(logs.id, 0, False, True))
    await connection.wait_for("chunk", lambda m: m.id == request_id)

    await server.stop()
    await no_stream_threads()  # the dropped connection closed its streams
    container = await started(run_container)
    async with asyncio.timeout(10):  # the reader queues the event while no connection is up
        while not len(running.agent.events):
            await asyncio.sleep(0.05)

    await server.start()  # same port
    connection = await server.next_connection()
    assert connection.first.type == "hello"
    await connection.wait_for(
        "events", lambda m: any(e.container_id == container.id and e.action == "start" for e in m.payload.events)
    )


async def test_a_replaced_agent_says_so_and_keeps_trying(
    server: FakeServer, connection: AgentConnection, caplog: pytest.LogCaptureFixture
) -> None:
    await connection.ws.close(protocol.CLOSE_REPLACED, "Another connection of this agent took over.")
    async with asyncio.timeout(10):  # said once the close is handled, before the (slow) retry
        while "Another copy of this agent (same credential) connected and replaced this one" not in caplog.text:
            await asyncio.sleep(0.05)
    again = await server.next_connection()
    assert again.first.type == "hello"


class FlakyEngine(SocketEngine):
    """The local daemon, which a test can make unreachable (as if dockerd stopped)."""

    def __init__(self) -> None:
        super().__init__(ConnectionSpec(docker_host()))
        self.down = False
        self.event_streams: list[Stream] = []

    def _check(self) -> None:
        if self.down:
            raise HostUnreachable("Nothing answers at unix:///var/run/docker.sock (no such socket file).")

    def info(self) -> HostFacts:
        self._check()
        return super().info()

    def events(self, *, since: Any = None) -> Stream:
        self._check()
        stream = super().events(since=since)
        self.event_streams.append(stream)
        return stream

    def go_down(self) -> None:
        self.down = True
        for stream in self.event_streams:
            stream.close()  # what the daemon's exit does to the event stream


async def test_docker_going_away_is_reported_in_heartbeats(
    server: FakeServer, start_agent: Callable[..., RunningAgent], run_container: Callable[..., Container]
) -> None:
    flaky = FlakyEngine()
    start_agent(token=server.token, engine=flaky)
    registered = await server.next_connection()
    await registered.wait_for("heartbeat")
    # Registration keeps the default 30 s heartbeat; a hello gets the fake server's 1 s.
    await registered.ws.close()
    connection = await server.next_connection()
    await connection.wait_for("heartbeat")

    flaky.go_down()
    beat = await connection.wait_for("heartbeat", lambda m: m.payload.docker_error)
    assert beat.payload.docker_error == "Nothing answers at unix:///var/run/docker.sock (no such socket file)."
    assert beat.payload.facts is None

    flaky.down = False
    beat = await connection.wait_for("heartbeat", lambda m: not m.payload.docker_error)
    assert isinstance(beat.payload.facts, HostFacts)  # facts again as soon as Docker answers
    container = await started(run_container)  # and the event stream is back
    await connection.wait_for(
        "events", lambda m: any(e.container_id == container.id and e.action == "start" for e in m.payload.events)
    )
    assert not connection.closed.is_set()
