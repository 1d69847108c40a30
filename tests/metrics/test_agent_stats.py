"""AgentEngine.stats and host_stats through a real agent: the agent (in this process, or as its own process)
connects over a real WebSocket on 127.0.0.1 to DockMon's ASGI application, and AgentEngine reaches it the way
every server process does, through the channel layer and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from apps.agents import presence
from apps.agents.engine import AgentEngine
from apps.hosts.models import Host
from dockmon.asgi import application
from dockmon_agent import protocol
from dockmon_agent.engine.base import NotSupported
from dockmon_agent.hoststats import PROC_ENV

# The agent tests' fixtures and helpers (pytest finds fixtures among a module's attributes).
from tests.agents import test_client as agent_tests
from tests.agents import test_consumer as consumer_tests

agent_host = consumer_tests.agent_host
token = consumer_tests.token
server = agent_tests.server
data_dir = agent_tests.data_dir
start_agent = agent_tests.start_agent
started = agent_tests.started
agent_process = agent_tests.agent_process

pytestmark = pytest.mark.django_db(transaction=True)


class DockMonSocket:
    """A WebSocket server on 127.0.0.1 handing each connection to DockMon's own ASGI application (the
    agent consumer behind its routing and middleware), frame for frame in both directions."""

    def __init__(self) -> None:
        self.port = 0
        self._server: Server | None = None
        self._relays: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await serve(self._relay, "127.0.0.1", 0, max_size=protocol.MAX_MESSAGE_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # The consumers' disconnect (presence, host status) runs before the test database goes.
        await asyncio.gather(*self._relays, return_exceptions=True)

    async def _relay(self, ws: ServerConnection) -> None:
        task = asyncio.current_task()
        self._relays.add(task)
        try:
            await self._serve(ws)
        finally:
            self._relays.discard(task)

    async def _serve(self, ws: ServerConnection) -> None:
        app = WebsocketCommunicator(application, ws.request.path)
        connected, _ = await app.connect(timeout=10)
        if not connected:
            await ws.close()
            return

        async def to_app() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for frame in ws:
                    if isinstance(frame, str):
                        await app.send_to(text_data=frame)
                    else:
                        await app.send_to(bytes_data=frame)

        async def to_agent() -> None:
            while True:
                # No timeout of its own: receive_output() would cancel the consumer when one ran out.
                output = await app.receive_output(timeout=3600)
                if output["type"] == "websocket.close":
                    await ws.close(output.get("code") or 1000, output.get("reason") or "")
                    return
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(output["text"] if output.get("text") is not None else output["bytes"])

        directions = [asyncio.create_task(to_app()), asyncio.create_task(to_agent())]
        try:
            await asyncio.wait(directions, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for direction in directions:
                direction.cancel()
            await asyncio.gather(*directions, return_exceptions=True)
            with contextlib.suppress(Exception):  # the consumer may have ended already
                await app.disconnect(ws.close_code or 1000, timeout=10)


@pytest.fixture
async def dockmon() -> AsyncIterator[DockMonSocket]:
    socket = DockMonSocket()
    await socket.start()
    yield socket
    await socket.stop()


async def online(host: Host, within: float = 20.0) -> AgentEngine:
    """The host's AgentEngine, once its agent's connection is registered."""
    client = presence.sync_client()
    try:
        async with asyncio.timeout(within):
            while await asyncio.to_thread(presence.channel_of, host.pk, client) is None:
                await asyncio.sleep(0.05)
    finally:
        client.close()
    return AgentEngine.for_host(host)


async def call(engine: AgentEngine, method: str, *args: Any) -> Any:
    """An engine call off the event loop: the agent (and the consumer) answer on this loop."""
    return await asyncio.to_thread(getattr(engine, method), *args)


def _mem_total() -> int:
    match = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
    assert match
    return int(match.group(1)) * 1024


async def test_stats_and_host_stats_come_from_the_agents_machine(
    agent_host: Host, token: str, dockmon: DockMonSocket, start_agent: Callable[..., Any], run_container
) -> None:
    start_agent(token=token, to=dockmon)
    engine = await online(agent_host)
    web = await started(run_container, name="web")
    holder = await started(run_container, "mem", "20", name="holder", mem_limit="64m")
    try:
        samples = await call(engine, "stats", [web.id, holder.id, "0" * 64])
        host = await call(engine, "host_stats")
    finally:
        engine.close()

    assert [s.container_id for s in samples] == [web.id, holder.id]  # the unknown one is left out
    by_id = {s.container_id: s for s in samples}
    assert by_id[holder.id].memory_limit_bytes == 64 * 2**20
    assert by_id[holder.id].memory_usage_bytes > 0  # (still filling its 20 MB, maybe)
    assert all(s.cpu_total_ns > 0 and s.system_total_ns and s.pids >= 1 for s in samples)

    # The agent runs here: its machine is this one.
    assert host.cpu_count == os.cpu_count()
    assert host.memory_total_bytes == _mem_total()
    assert host.cpu_percent is not None and 0 <= host.cpu_percent <= 100
    assert host.disks, "no disks"
    assert all(0 <= d.used_percent <= 100 and d.total_bytes > 0 for d in host.disks)
    root = next(d for d in host.disks if d.mount == "/")
    usage = shutil.disk_usage("/")
    assert root.total_bytes == usage.total
    assert root.used_percent == pytest.approx(usage.used / (usage.used + usage.free) * 100, abs=0.5)


async def test_an_agent_that_cannot_read_its_machine_says_how_to_fix_it(
    agent_host: Host,
    token: str,
    dockmon: DockMonSocket,
    data_dir: Path,
    run_container,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = tmp_path / "no-proc"
    empty.mkdir()
    # A real agent process, as in a container whose machine's /proc is not where DOCKMON_HOST_PROC says.
    monkeypatch.setenv(PROC_ENV, str(empty))
    monkeypatch.setenv("DOCKMON_TOKEN", token)
    agent = await agent_process(dockmon, data_dir)
    log = asyncio.create_task(agent.stderr.read())  # drained, so the agent never blocks on a full pipe
    try:
        engine = await online(agent_host, within=30)
        web = await started(run_container, name="web")
        try:
            with pytest.raises(NotSupported) as caught:
                await call(engine, "host_stats")
            # Container figures come from Docker, not /proc: they still work.
            [sample] = await call(engine, "stats", [web.id])
        finally:
            engine.close()
    finally:
        if agent.returncode is None:
            agent.terminate()
        await asyncio.wait_for(agent.wait(), 20)
    message = str(caught.value)
    assert PROC_ENV in message and "README" in message, (await log).decode()
    assert str(empty) in message  # which file was missing
    assert sample.container_id == web.id
