"""The agent's WebSocket end on the server, driven by a scripted agent through the real ASGI stack."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from apps.agents import services
from apps.agents.engine import AgentEngine
from apps.agents.models import AgentCredential
from apps.containers.models import Container
from apps.core.models import Event
from apps.hosts.models import Host
from dockmon.asgi import application
from dockmon_agent import protocol
from dockmon_agent.engine.base import AgentOffline, ContainerSnapshot, ContainerState, DockerEvent, Health, HostFacts

pytestmark = pytest.mark.django_db(transaction=True)

FACTS = HostFacts(
    name="far-away",
    os="Debian",
    os_type="linux",
    kernel="6.1",
    architecture="x86_64",
    docker_version="27.0.1",
    api_version="1.46",
    engine_id="ENGINE-1",
    cpus=4,
    memory_bytes=8 << 30,
    containers_total=1,
    containers_running=1,
    containers_paused=0,
    containers_stopped=0,
    images=3,
)
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
WEB = ContainerSnapshot(id="c" * 64, name="web", image="nginx:1.27", image_id="sha256:1", command=["nginx"],
                        entrypoint=[], state=ContainerState.RUNNING, status="Up 1 minute", health=Health.NONE,
                        exit_code=None, oom_killed=False, created=NOW, started_at=NOW, finished_at=None,
                        restart_policy="always", restart_count=0)  # fmt: skip


@pytest.fixture
def agent_host(db) -> Host:
    return Host.objects.create(name="remote-agent", kind=Host.Kind.AGENT)


@pytest.fixture
def token(agent_host, admin) -> str:
    return services.token_create(actor=admin, host=agent_host)


def frame(kind: str, payload, **envelope) -> str:
    return protocol.encode(protocol.Message(kind, payload, **envelope))


class ScriptedAgent:
    """Speaks protocol.py through the real ASGI app, and answers requests from a table of results."""

    def __init__(self) -> None:
        self.socket = WebsocketCommunicator(application, protocol.PATH)
        self.results: dict[str, object] = {"containers": [WEB], "container": WEB, "info": FACTS}

    async def connect(self) -> None:
        connected, _ = await self.socket.connect()
        assert connected

    async def say(self, kind: str, payload, **envelope) -> None:
        await self.socket.send_to(text_data=frame(kind, payload, **envelope))

    async def hear(self, timeout: float = 5) -> protocol.Message:
        return protocol.decode(await self.socket.receive_from(timeout=timeout), sender="server")

    async def serve(self, until: str = "", timeout: float = 5) -> list[protocol.Message]:
        """Answer requests until a non-request message arrives (returned, with what was served)."""
        seen = []
        while True:
            message = await self.hear(timeout)
            seen.append(message)
            if message.type != "request":
                return seen
            result = self.results[message.name]
            await self.say("reply", protocol.Reply(result=protocol.to_wire(result)), id=message.id)
            if message.name == until:
                return seen

    async def register(self, token: str, **extra) -> protocol.Message:
        await self.say("register", protocol.Register(token=token, name="far-away", engine_id="ENGINE-1",
                                                     facts=FACTS, **extra))  # fmt: skip
        return await self.hear()


async def test_registration_then_the_reconnect_sync(agent_host, token):
    agent = ScriptedAgent()
    await agent.connect()
    answer = await agent.register(token)
    assert answer.type == "registered" and answer.payload.host == agent_host.pk
    await agent.serve(until="containers")  # the server syncs the inventory at once
    await asyncio.sleep(0.3)
    host = await sync_to_async(Host.objects.get)(pk=agent_host.pk)
    assert host.status == "online" and host.facts["engine_id"] == "ENGINE-1"
    row = await sync_to_async(Container.objects.get)(host=agent_host)
    assert (row.name, row.state) == ("web", "running")
    credential = await sync_to_async(AgentCredential.objects.get)(host=agent_host)
    assert credential.secret_hash != answer.payload.credential  # only the hash is stored
    assert await sync_to_async(Event.objects.filter(action="agents.register", host=agent_host).exists)()
    await agent.socket.disconnect()

    again = ScriptedAgent()
    await again.connect()
    await again.say("hello", protocol.Hello(credential=answer.payload.credential, engine_id="ENGINE-1", facts=FACTS))
    assert (await again.hear()).type == "welcome"
    await again.socket.disconnect()


@pytest.mark.parametrize("problem", ["reused", "expired", "unknown"])
async def test_bad_tokens_are_refused_with_a_reason(agent_host, token, problem):
    if problem == "reused":
        first = ScriptedAgent()
        await first.connect()
        await first.register(token)
        await first.socket.disconnect()
    elif problem == "expired":
        await sync_to_async(agent_host.agent_tokens.update)(expires_at=NOW)
    agent = ScriptedAgent()
    await agent.connect()
    await agent.say("register", protocol.Register(token=token if problem != "unknown" else "nope", name="x",
                                                  engine_id="OTHER", facts=FACTS))  # fmt: skip
    closed = await agent.socket.receive_output(timeout=5)
    assert closed["type"] == "websocket.close" and closed["code"] == protocol.CLOSE_UNAUTHENTICATED
    assert {"reused": "used already", "expired": "expired", "unknown": "Unknown"}[problem] in closed["reason"]


async def test_a_known_engine_id_needs_separate_host(agent_host, token, admin):
    await sync_to_async(Host.objects.create)(name="first", kind=Host.Kind.AGENT, facts={"engine_id": "ENGINE-1"})
    agent = ScriptedAgent()
    await agent.connect()
    await agent.say("register", protocol.Register(token=token, name="clone", engine_id="ENGINE-1", facts=FACTS))
    closed = await agent.socket.receive_output(timeout=5)
    assert "already registered as “first”" in closed["reason"] or "--separate-host" in closed["reason"]
    clone = ScriptedAgent()
    await clone.connect()
    assert (await clone.register(token, separate=True)).type == "registered"
    await clone.socket.disconnect()


async def registered_agent(token: str) -> tuple[ScriptedAgent, protocol.Registered]:
    agent = ScriptedAgent()
    await agent.connect()
    answer = await agent.register(token)
    await agent.serve(until="containers")
    return agent, answer.payload


async def test_bad_messages_get_an_error_and_the_connection_keeps_serving(agent_host, token):
    agent, registered = await registered_agent(token)
    await agent.socket.send_to(text_data='{"v": 1, "type": "heartbeat", "payload": {"host": "x"}}')
    assert "Refused" in (await agent.hear()).payload.message
    await agent.socket.send_to(text_data="not json")
    assert "not JSON" in (await agent.hear()).payload.message
    await agent.say("heartbeat", protocol.Heartbeat(host=registered.host + 1000))
    assert "is refused" in (await agent.hear()).payload.message
    # Still connected and served: a request through the engine is answered.
    engine = AgentEngine.for_host(agent_host)
    facts = asyncio.ensure_future(sync_to_async(engine.info, thread_sensitive=False)())
    await agent.serve(until="info")
    assert (await facts) == FACTS
    await agent.socket.disconnect()


async def test_an_oversized_message_closes_the_connection(agent_host, token):
    agent, _ = await registered_agent(token)
    await agent.socket.send_to(text_data=json.dumps({"v": 1, "type": "error", "payload": {
        "message": "x" * (protocol.MAX_MESSAGE_BYTES + 1)}}))  # fmt: skip
    closed = await agent.socket.receive_output(timeout=5)
    assert closed["type"] == "websocket.close" and closed["code"] == protocol.CLOSE_TOO_LARGE


async def test_events_feed_the_inventory(agent_host, token):
    agent, registered = await registered_agent(token)
    stopped = ContainerSnapshot(**{**WEB.__dict__, "state": ContainerState.EXITED, "exit_code": 0})
    agent.results["container"] = stopped
    event = DockerEvent(action="die", container_id=WEB.id, name="web", time=NOW, attributes={"exitCode": "0"})
    await agent.say("events", protocol.Events(host=registered.host, events=(event,)))
    await agent.serve(until="container")
    await asyncio.sleep(0.3)
    row = await sync_to_async(Container.objects.get)(host=agent_host)
    assert row.state == "exited"
    audit = await sync_to_async(Event.objects.get)(action="containers.die", host=agent_host)
    assert audit.actor_name == "docker"
    await agent.socket.disconnect()


async def test_disconnect_and_revocation(agent_host, token, admin):
    agent, registered = await registered_agent(token)
    await sync_to_async(services.credential_revoke)(actor=admin, host=agent_host)
    closed = await agent.socket.receive_output(timeout=5)
    assert closed["code"] == protocol.CLOSE_REFUSED
    await agent.socket.disconnect()
    await asyncio.sleep(0.2)
    host = await sync_to_async(Host.objects.get)(pk=agent_host.pk)
    assert host.status == "offline" and "disconnected" in host.last_error
    with pytest.raises(AgentOffline):
        await sync_to_async(AgentEngine.for_host(host).info, thread_sensitive=False)()
    again = ScriptedAgent()
    await again.connect()
    await again.say("hello", protocol.Hello(credential=registered.credential, engine_id="ENGINE-1", facts=FACTS))
    closed = await again.socket.receive_output(timeout=5)
    assert closed["code"] == protocol.CLOSE_REFUSED and "revoked" in closed["reason"]


async def test_an_agent_whose_docker_does_not_answer_shows_why(agent_host, token):
    first, registered = await registered_agent(token)
    await first.socket.disconnect()
    agent = ScriptedAgent()
    await agent.connect()
    await agent.say("hello", protocol.Hello(credential=registered.credential, engine_id="", facts=None,
                                            docker_error="Nothing answers at unix:///var/run/docker.sock"))  # fmt: skip
    assert (await agent.hear()).type == "welcome"
    await asyncio.sleep(0.2)
    host = await sync_to_async(Host.objects.get)(pk=agent_host.pk)
    assert host.status == "offline" and "its Docker daemon does not answer" in host.last_error
    await agent.say("heartbeat", protocol.Heartbeat(host=registered.host, facts=FACTS))
    await asyncio.sleep(0.3)
    host = await sync_to_async(Host.objects.get)(pk=agent_host.pk)
    assert host.status == "online"
    await agent.socket.disconnect()


async def test_an_answer_that_takes_longer_than_five_seconds_arrives(agent_host, token):
    agent, _ = await registered_agent(token)
    engine = AgentEngine.for_host(agent_host)
    facts = asyncio.ensure_future(sync_to_async(engine.info, thread_sensitive=False)())
    request = await agent.hear()
    await asyncio.sleep(6.5)  # a slow Docker; Redis reads must not time out first
    await agent.say("reply", protocol.Reply(result=protocol.to_wire(FACTS)), id=request.id)
    assert (await facts) == FACTS
    await agent.socket.disconnect()
