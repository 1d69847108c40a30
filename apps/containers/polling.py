"""One look at a host: its facts and status, then a full inventory sync.

The events listener keeps the inventory current second by second; this periodic poll catches
whatever it could not see (it was down, or another process holds the host) and keeps facts fresh.
"""

from __future__ import annotations

import logging

from apps.containers.inventory import SyncResult, sync_host
from apps.containers.live import push_host_status
from apps.core.redis_client import held_alone
from apps.hosts.engines import engine_for
from apps.hosts.models import Host
from apps.hosts.services import host_record_contact, host_record_failure
from dockmon_agent.engine.base import EngineError

logger = logging.getLogger(__name__)

POLL_LOCK_SECONDS = 60


def poll_host(host: Host) -> SyncResult | None:
    """Check the host and sync its containers; two workers never poll the same host at once."""
    with held_alone(f"poll-host:{host.pk}", POLL_LOCK_SECONDS) as alone:
        if not alone:
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
    if came_back:
        push_host_status(host)
    return result
