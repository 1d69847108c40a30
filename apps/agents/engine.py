"""The Engine of agent hosts: the same calls as the socket and TLS engines, answered by the agent.

A call becomes a request message sent (over the channel layer) to the consumer serving the agent's
connection, which forwards it; the answer comes back on a Redis list of our own that we block on, with a
timeout. No connection means "agent offline" at once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.agents import presence
from dockmon_agent import protocol
from dockmon_agent.engine.base import (
    Action,
    AgentOffline,
    ContainerSnapshot,
    Engine,
    EngineError,
    EngineTimeout,
    HostFacts,
    ImageInfo,
    NetworkInfo,
    PruneResult,
    Stream,
    VolumeInfo,
)
from dockmon_agent.stats import HostStats, StatsSample

# A stream waits this long for each chunk before checking whether it was closed.
STREAM_POLL_SECONDS = 1


class AgentEngine(Engine):
    def __init__(self, host_pk: int, host_name: str) -> None:
        self.host_pk = host_pk
        self.host_name = host_name
        self._redis = presence.sync_client()

    @classmethod
    def for_host(cls, host) -> AgentEngine:
        return cls(host.pk, host.name)

    # --- plumbing

    @contextmanager
    def _broker(self) -> Iterator[None]:
        """Requests travel through Redis: when it fails, say so as an engine error, not a crash."""
        try:
            yield
        except redis.RedisError as problem:
            raise EngineError(f"DockMon cannot reach the agent of {self.host_name}: Redis fails ({problem})") from None

    def _send(self, name: str, args: Any) -> tuple[str, str]:
        with self._broker():
            channel = presence.channel_of(self.host_pk, self._redis)
            if channel is None:
                raise AgentOffline(f"The agent of {self.host_name} is offline.")
            request_id = uuid.uuid4().hex
            reply_key = presence.reply_key(request_id)
            message = {"type": "agent.request", "id": request_id, "name": name, "args": protocol.to_wire(args),
                       "reply_key": reply_key}  # fmt: skip
            async_to_sync(get_channel_layer().send)(channel, message)
        return request_id, reply_key

    def _cancel(self, request_id: str) -> None:
        with self._broker():
            channel = presence.channel_of(self.host_pk, self._redis)
            if channel is not None:
                async_to_sync(get_channel_layer().send)(channel, {"type": "agent.cancel", "id": request_id})

    def _next(self, reply_key: str, timeout: float) -> dict | None:
        with self._broker():
            item = self._redis.blpop([reply_key], timeout=timeout)
        return json.loads(item[1]) if item else None

    def _call(self, name: str, args: Any = None, timeout: float = protocol.REQUEST_TIMEOUT_SECONDS) -> Any:
        request_id, reply_key = self._send(name, args if args is not None else protocol.NoArgs())
        answer = self._next(reply_key, timeout)
        if answer is None:
            self._cancel(request_id)
            raise EngineTimeout(f"The agent of {self.host_name} did not answer within {timeout:.0f} s.")
        if answer["type"] == "fail":
            raise protocol.error_from_wire(protocol.Fail(answer["error"], answer["message"]))
        return protocol.from_wire(protocol.OPERATIONS[name].result, answer.get("result"), where=name)

    # --- the interface

    def info(self) -> HostFacts:
        return self._call("info")

    def containers(self) -> list[ContainerSnapshot]:
        return self._call("containers")

    def container(self, container_id: str) -> ContainerSnapshot:
        return self._call("container", protocol.ContainerRef(container_id))

    def inspect(self, container_id: str) -> dict[str, Any]:
        return self._call("inspect", protocol.ContainerRef(container_id))

    def act(self, container_id: str, action: Action, *, new_name: str = "", remove_volumes: bool = False,
            timeout: int = 10) -> None:  # fmt: skip
        args = protocol.ActArgs(container_id, Action(action), new_name, remove_volumes, timeout)
        # Stopping waits up to `timeout` for the container; the agent needs a little more on top.
        self._call("act", args, timeout=protocol.REQUEST_TIMEOUT_SECONDS + timeout)

    def logs(self, container_id: str, *, tail: int, timestamps: bool, follow: bool) -> Stream:
        request_id, reply_key = self._send("logs", protocol.LogsArgs(container_id, tail, timestamps, follow))
        return AgentLogStream(self, request_id, reply_key)

    def events(self, *, since: datetime | None = None) -> Stream:
        raise EngineError("An agent sends its host's events by itself; there is no stream to open.")

    def images(self) -> list[ImageInfo]:
        return self._call("images")

    def remove_image(self, image_id: str, *, force: bool = False) -> None:
        self._call("remove_image", protocol.ImageRef(image_id, force))

    def prune_images(self, *, labels: dict[str, str] | None = None) -> PruneResult:
        return self._call("prune_images", protocol.PruneArgs(labels))

    def networks(self) -> list[NetworkInfo]:
        return self._call("networks")

    def remove_network(self, network_id: str) -> None:
        self._call("remove_network", protocol.NetworkRef(network_id))

    def prune_networks(self, *, labels: dict[str, str] | None = None) -> PruneResult:
        return self._call("prune_networks", protocol.PruneArgs(labels))

    def volumes(self) -> list[VolumeInfo]:
        return self._call("volumes")

    def remove_volume(self, name: str) -> None:
        self._call("remove_volume", protocol.VolumeRef(name))

    def prune_volumes(self, *, labels: dict[str, str] | None = None) -> PruneResult:
        return self._call("prune_volumes", protocol.PruneArgs(labels))

    def stats(self, container_ids: Sequence[str]) -> list[StatsSample]:
        return self._call("stats", protocol.StatsArgs(tuple(container_ids)))

    def host_stats(self) -> HostStats:
        return self._call("host_stats")

    def close(self) -> None:
        self._redis.close()


class AgentLogStream(Stream):
    """Log lines as the agent sends them; close() (from any thread) cancels the stream on the agent."""

    def __init__(self, engine: AgentEngine, request_id: str, reply_key: str) -> None:
        self.engine = engine
        self.request_id = request_id
        self.reply_key = reply_key
        self.closed = False

    def __iter__(self) -> Iterator[str]:
        # Short waits, so a close() from another thread is noticed; only the first answer has a deadline.
        waited, started = 0.0, False
        while not self.closed:
            answer = self.engine._next(self.reply_key, STREAM_POLL_SECONDS)
            if answer is None:
                waited += STREAM_POLL_SECONDS
                if not started and waited >= protocol.REQUEST_TIMEOUT_SECONDS:
                    raise EngineTimeout(f"The agent of {self.engine.host_name} did not send the log.")
                continue
            started = True
            if answer["type"] == "chunk":
                yield from answer["lines"]
            elif answer["type"] == "fail":
                raise protocol.error_from_wire(protocol.Fail(answer["error"], answer["message"]))
            else:  # end
                return

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.engine._cancel(self.request_id)
