"""Which channel serves each connected agent, kept in Redis so any process can reach it.

The agent's consumer writes `<prefix>:agent:<host>` = its channel name when the agent authenticates and
refreshes it with every heartbeat; the key expires when heartbeats stop. Engines in any process look it
up: no key, no agent ("agent offline", at once).
"""

from __future__ import annotations

import redis
import redis.asyncio
from django.conf import settings

from dockmon_agent.protocol import OFFLINE_AFTER_SECONDS

TTL_SECONDS = OFFLINE_AFTER_SECONDS + 10

# Compare-and-delete: only the connection that owns the key may remove it.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def key(host_pk: int) -> str:
    return f"{settings.REDIS_PREFIX}:agent:{host_pk}"


def reply_key(request_id: str) -> str:
    return f"{settings.REDIS_PREFIX}:agent-reply:{request_id}"


def sync_client() -> redis.Redis:
    # No read timeout: engines block on their reply list for as long as a request may take (BLPOP has its own
    # timeout); keepalive notices a Redis that went away meanwhile.
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=None, socket_connect_timeout=5, socket_keepalive=True
    )


def async_client() -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)


def channel_of(host_pk: int, client: redis.Redis | None = None) -> str | None:
    """The channel of the agent's live connection, or None when it is not connected."""
    value = (client or sync_client()).get(key(host_pk))
    return value.decode() if value else None


async def claim(client: redis.asyncio.Redis, host_pk: int, channel: str) -> str | None:
    """Register this connection as the agent's; returns the channel it replaces, if any."""
    previous = await client.getset(key(host_pk), channel)
    await client.expire(key(host_pk), TTL_SECONDS)
    previous = previous.decode() if previous else None
    return previous if previous != channel else None


async def refresh(client: redis.asyncio.Redis, host_pk: int, channel: str) -> bool:
    """Keep the claim alive; False when another connection took it over."""
    current = await client.get(key(host_pk))
    if current is None or current.decode() != channel:
        return False
    await client.expire(key(host_pk), TTL_SECONDS)
    return True


async def release(client: redis.asyncio.Redis, host_pk: int, channel: str) -> bool:
    """Drop the claim if it is still ours; True when it was."""
    return bool(await client.eval(_RELEASE, 1, key(host_pk), channel))
