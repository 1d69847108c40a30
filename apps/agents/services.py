"""Registration tokens, agent credentials, and what happens when an agent connects or goes away."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.agents import presence
from apps.agents.models import AgentCredential, RegistrationToken
from apps.core.audit import record
from apps.core.models import Event
from apps.hosts.models import Host
from dockmon_agent.protocol import Hello, Register

TOKEN_LIFETIME = timedelta(minutes=15)


class RegistrationRefused(Exception):
    """Why an agent may not register or connect; the message goes back to the agent."""


def _hash(secret: str) -> str:
    # Tokens and credentials are 256 random bits: a fast hash is enough, nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def token_create(*, actor, host: Host, multi_use: bool = False, request: HttpRequest | None = None) -> str:
    """A new registration token for the host; the plain token is returned once and never stored."""
    token = secrets.token_urlsafe(32)
    RegistrationToken.objects.create(
        host=host,
        token_hash=_hash(token),
        multi_use=multi_use,
        expires_at=timezone.now() + TOKEN_LIFETIME,
        created_by=actor,
    )
    record(actor, "agents.token", host, host=host, details={"multi_use": multi_use}, request=request)
    return token


@dataclass(frozen=True)
class Registration:
    host: Host
    credential: str


@transaction.atomic
def register(message: Register) -> Registration:
    """Trade a registration token for a permanent credential (replacing any earlier one of the host)."""
    token = (
        RegistrationToken.objects.select_for_update()
        .select_related("host")
        .filter(token_hash=_hash(message.token))
        .first()
    )
    if token is None:
        raise RegistrationRefused("Unknown registration token. Create a new one on the host's page in DockMon.")
    if token.expires_at <= timezone.now():
        raise RegistrationRefused("This registration token has expired (they last 15 minutes). Create a new one.")
    if token.used_at is not None and not token.multi_use:
        raise RegistrationRefused("This registration token was used already. Create a new one.")
    host = token.host
    twin = (
        Host.objects.filter(kind=Host.Kind.AGENT, facts__engine_id=message.engine_id).exclude(pk=host.pk).first()
        if message.engine_id
        else None
    )
    if twin is not None and not message.separate:
        raise RegistrationRefused(
            f"This Docker engine (id {message.engine_id}) is already registered as “{twin.name}”. If this is "
            "another machine (a cloned VM shares the engine id), start the agent with --separate-host."
        )
    token.used_at = timezone.now()
    token.save(update_fields=["used_at"])
    credential = secrets.token_urlsafe(32)
    AgentCredential.objects.update_or_create(
        host=host,
        defaults={"secret_hash": _hash(credential), "agent_name": message.name[:255],
                  "agent_version": message.agent_version[:32], "last_connected_at": timezone.now()},
    )  # fmt: skip
    record(
        Event.ActorKind.AGENT,
        "agents.register",
        host,
        host=host,
        details={"agent": message.name, "engine_id": message.engine_id, "separate": message.separate},
    )
    return Registration(host=host, credential=credential)


def authenticate(message: Hello) -> Host:
    """The host whose credential this is; raises RegistrationRefused for an unknown (revoked) one."""
    found = AgentCredential.objects.select_related("host").filter(secret_hash=_hash(message.credential)).first()
    if found is None:
        raise RegistrationRefused(
            "DockMon does not know this agent's credential (revoked, or the host was deleted). Register it "
            "again with a new token."
        )
    AgentCredential.objects.filter(pk=found.pk).update(
        last_connected_at=timezone.now(), agent_version=message.agent_version[:32]
    )
    return found.host


@transaction.atomic
def credential_revoke(*, actor, host: Host, request: HttpRequest | None = None) -> None:
    """Forget the agent's credential and cut its connection: it must register again with a new token."""
    AgentCredential.objects.filter(host=host).delete()
    record(actor, "agents.revoke", host, host=host, severity=Event.Severity.WARNING, request=request)
    transaction.on_commit(lambda: disconnect(host.pk, "The agent's credential was revoked."))


def disconnect(host_pk: int, reason: str) -> None:
    """Tell the agent's live connection, wherever it is served, to close."""
    channel = presence.channel_of(host_pk)
    if channel:
        async_to_sync(get_channel_layer().send)(channel, {"type": "agent.disconnect", "reason": reason})
