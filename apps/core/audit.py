"""The audit trail's single entry point: `record(actor, action, target, ...)`."""

from __future__ import annotations

import logging
from typing import Any

from django.db import models, transaction
from django.http import HttpRequest

from apps.core.models import Event

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
        return {"actor_kind": kind, "actor_name": kind.label.lower()}
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
    host_name: str = "",
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
        host_name=host_name,
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
