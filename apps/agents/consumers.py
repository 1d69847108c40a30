"""The server end of an agent's WebSocket (`/ws/agent/`).

The agent authenticates with its first message (a registration token or its credential); from then on
this consumer is the agent's address: engines anywhere send it requests over the channel layer, it
forwards them to the agent and passes the answers back on the Redis list each request waits on. The
agent's events and the reconnect sync go through the same inventory code as every other host, one
batch at a time and in order. A bad message gets an error reply and is logged; it never takes the
consumer down, and only a broken handshake or an oversized frame closes the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import close_old_connections

from apps.agents import presence, services
from apps.agents.engine import AgentEngine
from apps.containers.inventory import apply_events, sync_host
from apps.containers.live import push_host_status
from apps.hosts.models import Host
from apps.hosts.services import host_record_contact, host_record_failure
from dockmon_agent import protocol
from dockmon_agent.engine.base import AgentOffline, HostUnreachable

logger = logging.getLogger(__name__)

AUTH_SECONDS = 10
REPLY_TTL_SECONDS = 120


def _inventory(work: str, host: Host, events: tuple = ()) -> None:
    """Sync or apply events for an agent host, in a worker thread (the engine blocks on the agent's answers)."""
    try:
        with AgentEngine.for_host(host) as engine:
            if work == "sync":
                sync_host(host, engine)
            else:
                apply_events(host, engine, list(events))
    except Exception:
        logger.exception("Agent host %s: %s failed", host.name, work)
    finally:
        close_old_connections()


def _contact(host: Host, facts, docker_error: str) -> None:
    """The agent is alive: the host is online, unless the agent reports that its Docker does not answer."""
    host.refresh_from_db()
    if docker_error:
        changed = host_record_failure(
            host, HostUnreachable(f"The agent is connected, but its Docker daemon does not answer: {docker_error}")
        )
    else:
        changed = host_record_contact(host, facts)
    if changed:
        push_host_status(host)


def _gone(host_pk: int) -> None:
    host = Host.objects.filter(pk=host_pk).first()
    if host is not None and host_record_failure(host, AgentOffline("The agent disconnected.")):
        push_host_status(host)


class AgentConsumer(AsyncWebsocketConsumer):
    host: Host | None = None

    async def connect(self) -> None:
        self.pending: dict[str, str] = {}  # request id → the Redis list its caller waits on
        self.work: asyncio.Queue[tuple[str, tuple]] = asyncio.Queue()
        self.redis = presence.async_client()
        await self.accept()
        self.tasks = [asyncio.create_task(self._expect_auth()), asyncio.create_task(self._do_work())]

    async def disconnect(self, code: int) -> None:
        for task in getattr(self, "tasks", []):
            task.cancel()
        for request_id in list(self.pending):
            await self._answer(request_id, {"type": "fail", "error": "AgentOffline",
                                            "message": "The agent disconnected."})  # fmt: skip
        if self.host is not None and await presence.release(self.redis, self.host.pk, self.channel_name):
            logger.info("Agent of %s disconnected (code %s)", self.host.name, code)
            await database_sync_to_async(_gone)(self.host.pk)
        await self.redis.aclose()

    async def _expect_auth(self) -> None:
        await asyncio.sleep(AUTH_SECONDS)
        if self.host is None:
            await self.close(protocol.CLOSE_UNAUTHENTICATED, "No registration or hello within 10 s.")

    async def _do_work(self) -> None:
        """Syncs and event batches for the agent's host, one at a time, in the order they came."""
        while True:
            work, events = await self.work.get()
            await sync_to_async(_inventory, thread_sensitive=False)(work, self.host, events)

    # --- frames from the agent

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = protocol.decode(text_data if text_data is not None else bytes_data, sender="agent")
        except protocol.ProtocolError as problem:
            await self._refuse(str(problem), text_data)
            return
        if self.host is None:
            await self._authenticate(message)
            return
        handler = getattr(self, f"on_{message.type}", None)
        if handler is None:  # register or hello again
            await self._send(
                protocol.Message("error", protocol.Error(f"Unexpected {message.type}: already connected."))
            )
            return
        await handler(message)

    async def _refuse(self, reason: str, text: str | None) -> None:
        who = self.host.name if self.host else self.scope.get("client")
        logger.warning("Agent %s sent a bad message: %s", who, reason)
        if text is not None and len(text.encode()) > protocol.MAX_MESSAGE_BYTES:
            await self.close(protocol.CLOSE_TOO_LARGE, "Message over the size limit.")
        elif self.host is None:
            await self.close(protocol.CLOSE_PROTOCOL_ERROR, reason[:120])
        else:
            await self._send(protocol.Message("error", protocol.Error(f"Refused: {reason}")))

    async def _authenticate(self, message: protocol.Message) -> None:
        try:
            if message.type == "register":
                registration = await database_sync_to_async(services.register)(message.payload)
                self.host = registration.host
                await self._send(
                    protocol.Message(
                        "registered", protocol.Registered(host=self.host.pk, credential=registration.credential)
                    )
                )
            elif message.type == "hello":
                self.host = await database_sync_to_async(services.authenticate)(message.payload)
                await self._send(protocol.Message("welcome", protocol.Welcome(host=self.host.pk)))
            else:
                await self.close(protocol.CLOSE_UNAUTHENTICATED, "Register or say hello first.")
                return
        except services.RegistrationRefused as refusal:
            logger.warning("Agent at %s refused: %s", self.scope.get("client"), refusal)
            code = protocol.CLOSE_UNAUTHENTICATED if message.type == "register" else protocol.CLOSE_REFUSED
            await self.close(code, str(refusal)[:120])
            return
        replaced = await presence.claim(self.redis, self.host.pk, self.channel_name)
        if replaced:
            await self.channel_layer.send(replaced, {"type": "agent.replaced"})
        logger.info("Agent of %s connected", self.host.name)
        await database_sync_to_async(_contact)(self.host, message.payload.facts, message.payload.docker_error)
        await self.work.put(("sync", ()))

    async def on_heartbeat(self, message: protocol.Message) -> None:
        if not await self._own(message):
            return
        if not await presence.refresh(self.redis, self.host.pk, self.channel_name):
            await self.close(protocol.CLOSE_REPLACED, "Another connection of this agent took over.")
            return
        await database_sync_to_async(_contact)(self.host, message.payload.facts, message.payload.docker_error)

    async def on_events(self, message: protocol.Message) -> None:
        if not await self._own(message):
            return
        await self.work.put(("events", message.payload.events))
        if message.payload.dropped:
            # Events were lost while the agent was cut off: only a full sync can tell what changed.
            logger.info("Agent of %s dropped %s events; syncing", self.host.name, message.payload.dropped)
            await self.work.put(("sync", ()))

    async def _own(self, message: protocol.Message) -> bool:
        """An agent speaks for its own host only."""
        if message.payload.host == self.host.pk:
            return True
        logger.warning("Agent of %s sent a %s for host %s: refused", self.host.name, message.type,
                       message.payload.host)  # fmt: skip
        await self._send(protocol.Message("error", protocol.Error(
            f"This connection serves host {self.host.pk}; a {message.type} for host {message.payload.host} "
            "is refused.")))  # fmt: skip
        return False

    async def on_reply(self, message: protocol.Message) -> None:
        await self._answer(message.id, {"type": "reply", "result": message.payload.result}, final=True)

    async def on_chunk(self, message: protocol.Message) -> None:
        await self._answer(message.id, {"type": "chunk", "lines": list(message.payload.lines)}, final=False)

    async def on_end(self, message: protocol.Message) -> None:
        await self._answer(message.id, {"type": "end"}, final=True)

    async def on_fail(self, message: protocol.Message) -> None:
        fail = message.payload
        await self._answer(message.id, {"type": "fail", "error": fail.error, "message": fail.message}, final=True)

    async def on_error(self, message: protocol.Message) -> None:
        logger.warning("Agent of %s reports: %s", self.host.name, message.payload.message)

    async def _answer(self, request_id: str | None, answer: dict[str, Any], *, final: bool = True) -> None:
        reply_key = self.pending.pop(request_id, None) if final else self.pending.get(request_id)
        if reply_key is None:
            logger.debug("Answer to unknown request %s from the agent of %s", request_id, self.host)
            return
        await self.redis.rpush(reply_key, json.dumps(answer))
        await self.redis.expire(reply_key, REPLY_TTL_SECONDS)

    async def _send(self, message: protocol.Message) -> None:
        await self.send(text_data=protocol.encode(message))

    # --- messages from engines and services (channel layer)

    async def agent_request(self, event: dict[str, Any]) -> None:
        self.pending[event["id"]] = event["reply_key"]
        frame = {"v": protocol.PROTOCOL_VERSION, "type": "request", "id": event["id"], "name": event["name"],
                 "payload": event["args"]}  # fmt: skip
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def agent_cancel(self, event: dict[str, Any]) -> None:
        if self.pending.pop(event["id"], None) is not None:
            await self._send(protocol.Message("cancel", protocol.Cancel(), id=event["id"]))

    async def agent_disconnect(self, event: dict[str, Any]) -> None:
        await self.close(protocol.CLOSE_REFUSED, event.get("reason", "Disconnected by DockMon.")[:120])

    async def agent_replaced(self, event: dict[str, Any]) -> None:
        await self.close(protocol.CLOSE_REPLACED, "Another connection of this agent took over.")
