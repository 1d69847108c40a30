"""One look at a host: its facts and status, then a full inventory sync.

The events listener keeps the inventory current second by second; this periodic poll catches
whatever it could not see (it was down, or another process holds the host) and keeps facts fresh.
"""

from __future__ import annotations

import contextlib
import logging

import redis
from django.conf import settings

from apps.containers.inventory import SyncResult, sync_host
from apps.containers.live import push_host_status
from apps.hosts.engines import engine_for
from apps.hosts.models import Host
from apps.hosts.services import host_record_contact, host_record_failure
from dockmon_agent.engine.base import EngineError

logger = logging.getLogger(__name__)

POLL_LOCK_SECONDS = 60


def poll_host(host: Host) -> SyncResult | None:
    """Check the host and sync its containers; two workers never poll the same host at once."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    lock = client.lock(f"{settings.REDIS_PREFIX}:poll-host:{host.pk}", timeout=POLL_LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        return None
    try:
        with engine_for(host) as engine:
            came_back = host_record_contact(host, engine.info())
            result = sync_host(host, engine)
    except EngineError as error:
        if host_record_failure(host, error):
            push_host_status(host)
        logger.info("Host %s: %s", host.name, error)
        return None
    else:
        if came_back:
            push_host_status(host)
        return result
    finally:
        with contextlib.suppress(redis.exceptions.LockError):  # it expired meanwhile: nothing to release
            lock.release()
