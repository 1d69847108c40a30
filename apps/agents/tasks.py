from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from apps.containers.live import push_host_status
from apps.hosts.models import Host
from apps.hosts.services import host_record_failure
from dockmon_agent.engine.base import AgentOffline
from dockmon_agent.protocol import OFFLINE_AFTER_SECONDS


@shared_task(name="agents.mark_silent_offline", expires=14)
def mark_silent_offline() -> int:
    """Agent hosts that missed two heartbeats are offline (a dropped network may never close the socket)."""
    silent_since = timezone.now() - timedelta(seconds=OFFLINE_AFTER_SECONDS)
    silent = Host.objects.filter(kind=Host.Kind.AGENT, status=Host.Status.ONLINE, last_seen__lt=silent_since)
    for host in silent:
        if host_record_failure(host, AgentOffline(f"No heartbeat from the agent for over {OFFLINE_AFTER_SECONDS} s.")):
            push_host_status(host)
    return len(silent)
