"""The audit trail's single entry point: `record(actor, action, target, ...)`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.http import HttpRequest

from apps.core.models import Event

if TYPE_CHECKING:
    from apps.hosts.models import Host

logger = logging.getLogger(__name__)

# Human wording for actions; an action without a label is shown as written.
ACTION_LABELS = {
    "auth.login": "Signed in",
    "auth.logout": "Signed out",
    "auth.login_failed": "Failed sign-in",
    "auth.login_blocked": "Sign-in refused: too many failed attempts",
    "auth.password_change": "Changed own password",
    "auth.password_reset": "Reset password by e-mail",
    "auth.mfa_enable": "Enabled two-factor authentication",
    "auth.mfa_disable": "Disabled two-factor authentication",
    "auth.mfa_failed": "Wrong two-factor code",
    "users.create_first_admin": "Created the first admin",
    "users.create": "Created user",
    "users.update": "Changed user",
    "users.set_password": "Set password of user",
    "users.delete": "Deleted user",
    "settings.change": "Changed settings",
    "events.purge": "Deleted old audit events",
    "hosts.create": "Added host",
    "hosts.update": "Changed host",
    "hosts.delete": "Deleted host",
    "hosts.online": "Host is online",
    "hosts.offline": "Host went offline",
    "hosts.error": "Host needs attention",
    "hosts.image_remove": "Removed image",
    "hosts.images_prune": "Pruned unused images",
    "hosts.network_remove": "Removed network",
    "hosts.networks_prune": "Pruned unused networks",
    "hosts.volume_remove": "Removed volume",
    "hosts.volumes_prune": "Pruned unused volumes",
    "containers.create": "Container created",
    "containers.start": "Container started",
    "containers.restart": "Container restarted",
    "containers.die": "Container exited",
    "containers.stop": "Container stopped",
    "containers.kill": "Container killed",
    "containers.oom": "Container ran out of memory",
    "containers.pause": "Container paused",
    "containers.unpause": "Container resumed",
    "containers.destroy": "Container removed",
    "containers.remove": "Container removed",
    "containers.rename": "Container renamed",
    "containers.health_status": "Health changed",
    "containers.gone": "Container disappeared",
    "containers.tag_add": "Tagged container",
    "containers.tag_remove": "Untagged container",
    "containers.desired_state": "Changed desired state",
    "containers.bulk": "Started a bulk job",
    "agents.token": "Created an agent registration token",
    "agents.register": "Agent registered",
    "agents.revoke": "Revoked the agent's credential",
    "tags.change": "Changed tag",
    "tags.delete": "Deleted tag",
    "admin.add": "Added in the Django admin",
    "admin.change": "Changed in the Django admin",
    "admin.delete": "Deleted in the Django admin",
}

Actor = Any  # a User, None (the system) or an Event.ActorKind for automatic actors


def _actor_fields(actor: Actor) -> dict[str, Any]:
    if actor is None:
        return {"actor_kind": Event.ActorKind.SYSTEM, "actor_name": "system"}
    if isinstance(actor, str):
        kind = Event.ActorKind(actor)
        return {"actor_kind": kind, "actor_name": kind.value.replace("_", "-")}
    return {"actor_kind": Event.ActorKind.USER, "actor": actor, "actor_name": actor.get_username()}


def _target_fields(target: models.Model | None) -> dict[str, Any]:
    if target is None:
        return {}
    return {
        "target_type": target._meta.model_name,
        "target_id": str(target.pk or ""),
        "target_name": str(target)[:255],
    }


def client_ip(request: HttpRequest) -> str | None:
    # daphne fills REMOTE_ADDR from X-Forwarded-For only when told it sits behind a proxy
    # (--proxy-headers), so the address here cannot be forged by a direct client.
    return request.META.get("REMOTE_ADDR") or None


def record(
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    *,
    severity: str = Event.Severity.INFO,
    details: dict[str, Any] | None = None,
    message: str = "",
    host: Host | None = None,
    request: HttpRequest | None = None,
) -> Event:
    """Write one audit event. The category is the part of `action` before the dot.

    Never put a secret into `details`: the trail is shown to every auditor.
    """
    event = Event(
        category=action.split(".", 1)[0],
        action=action,
        severity=severity,
        details=details or {},
        message=message[:500],
        host=host,
        host_name=host.name if host else "",
        **_actor_fields(actor),
        **_target_fields(target),
    )
    if request is not None:
        event.ip_address = client_ip(request)
        event.user_agent = request.META.get("HTTP_USER_AGENT", "")[:300]
    event.save()
    transaction.on_commit(_announce)
    return event


def _announce() -> None:
    from apps.core.live import push_recent_events

    push_recent_events()
