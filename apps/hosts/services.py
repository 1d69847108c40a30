"""Writes on hosts: saving and deleting them, and their online/offline status."""

from __future__ import annotations

import os
import socket
from dataclasses import asdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.core.audit import record
from apps.core.models import AppSettings, Event
from apps.core.signals import announce
from apps.hosts.models import Host
from apps.hosts.signals import host_status_changed
from apps.hosts.tls import TlsFacts
from dockmon_agent.engine.base import EngineError, HostFacts

# An online host is checked this often; an unreachable one is retried 5 s, 10 s, 20 s … up to 5 min.
CHECK_INTERVAL = timedelta(seconds=30)
FIRST_RETRY_SECONDS = 5
MAX_RETRY_SECONDS = 300


def _apply_tls_facts(host: Host, tls_facts: TlsFacts | None) -> None:
    host.ca_subject = tls_facts.ca_subject if tls_facts else ""
    host.client_cert_subject = tls_facts.client_subject if tls_facts else ""
    host.client_cert_fingerprint = tls_facts.fingerprint if tls_facts else ""
    host.client_cert_not_after = tls_facts.not_after if tls_facts else None


@transaction.atomic
def host_save(
    *, actor, host: Host, tls_facts: TlsFacts | None, changed: list[str], request: HttpRequest | None = None
) -> Host:
    """Create or update a host; `changed` names the form fields that changed (secrets are named, never shown)."""
    creating = host.pk is None
    _apply_tls_facts(host, tls_facts)
    if creating or {"url", "tls_ca", "tls_cert", "tls_key"} & set(changed):
        # A new address or new credentials deserve a check right away.
        host.next_check_at = None
        host.retry_delay_seconds = 0
    host.save()
    record(
        actor,
        "hosts.create" if creating else "hosts.update",
        host,
        host=host,
        details={"kind": host.kind, "url": host.url} if creating else {"changed": changed},
        request=request,
    )
    return host


@transaction.atomic
def host_delete(*, actor, host: Host, request: HttpRequest | None = None) -> None:
    record(
        actor,
        "hosts.delete",
        host,
        host=host,
        severity=Event.Severity.WARNING,
        details={"containers": host.containers.count()},
        request=request,
    )
    host.delete()


def host_record_contact(host: Host, facts: HostFacts | None = None) -> bool:
    """The host answered. Returns True when it was not online before (it came back)."""
    now = timezone.now()
    previous = host.status
    came_back = previous != Host.Status.ONLINE
    host.status = Host.Status.ONLINE
    host.last_seen = now
    host.last_error = ""
    host.retry_delay_seconds = 0
    host.next_check_at = now + CHECK_INTERVAL
    fields = ["status", "last_seen", "last_error", "retry_delay_seconds", "next_check_at"]
    if facts is not None:
        host.facts = facts_as_dict(facts)
        host.facts_updated_at = now
        fields += ["facts", "facts_updated_at"]
    if came_back:
        host.status_changed_at = now
        fields.append("status_changed_at")
    Host.objects.filter(pk=host.pk).update(**{f: getattr(host, f) for f in fields})
    if came_back:
        first = previous == Host.Status.PENDING
        record(None, "hosts.online", host, host=host, message="first contact" if first else "answers again")
        announce(host_status_changed, Host, host=host, online=True, error="")
    return came_back


def host_record_failure(host: Host, error: EngineError) -> bool:
    """The host did not answer. Schedules the next try (back-off) and returns True when it just went down."""
    now = timezone.now()
    new_status = Host.Status.ERROR if error.permanent else Host.Status.OFFLINE
    went_down = host.status != new_status
    host.retry_delay_seconds = min(max(host.retry_delay_seconds * 2, FIRST_RETRY_SECONDS), MAX_RETRY_SECONDS)
    host.next_check_at = now + timedelta(seconds=host.retry_delay_seconds)
    host.last_error = str(error)
    host.status = new_status
    fields = ["status", "last_error", "retry_delay_seconds", "next_check_at"]
    if went_down:
        host.status_changed_at = now
        fields.append("status_changed_at")
    Host.objects.filter(pk=host.pk).update(**{f: getattr(host, f) for f in fields})
    if went_down:
        record(
            None,
            "hosts.offline" if not error.permanent else "hosts.error",
            host,
            host=host,
            severity=Event.Severity.ERROR,
            message=str(error),
        )
        announce(host_status_changed, Host, host=host, online=False, error=str(error))
    return went_down


def facts_as_dict(facts: HostFacts) -> dict:
    return asdict(facts)


def local_socket_path() -> str | None:
    """The local Docker (or Podman) socket when one exists on this machine."""
    docker_host = os.environ.get("DOCKER_HOST", "")
    path = docker_host.removeprefix("unix://") if docker_host.startswith("unix://") else "/var/run/docker.sock"
    return path if os.path.exists(path) else None


def local_host_offer() -> Host | None:
    """At first start, add this machine's Docker socket as a host (once: a deleted one stays deleted)."""
    if not settings.AUTO_LOCAL_HOST:
        return None
    app_settings = AppSettings.load()
    path = local_socket_path()
    if app_settings.local_host_offered or path is None:
        return None
    with transaction.atomic():
        host = None
        if not Host.objects.filter(kind=Host.Kind.SOCKET).exists():
            name = socket.gethostname() or "local"
            host = Host.objects.create(
                name=name,
                kind=Host.Kind.SOCKET,
                url=f"unix://{path}",
                description="This machine's Docker socket, added at first start.",
            )
            record(None, "hosts.create", host, host=host, details={"kind": "socket", "url": host.url})
        AppSettings.objects.filter(pk=app_settings.pk).update(local_host_offered=True)
    return host
