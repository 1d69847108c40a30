"""Picks the engine for a host. Every Docker operation in DockMon starts here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

from dockmon_agent.engine.base import Engine, EngineError

if TYPE_CHECKING:
    from apps.hosts.models import Host

# Kind → engine class, imported on first use. The agent's engine is registered by its own app.
ENGINES: dict[str, str] = {
    "socket": "dockmon_agent.engine.docker_api.SocketEngine",
    "tls": "dockmon_agent.engine.docker_api.TlsEngine",
}


def engine_for(host: Host) -> Engine:
    """An open engine for the host (saved or not: "Test connection" uses an unsaved one)."""
    try:
        engine_class = import_string(ENGINES[host.kind])
    except KeyError:
        raise EngineError(f"DockMon cannot connect to “{host.get_kind_display()}” hosts yet.") from None
    return engine_class.for_host(host)
