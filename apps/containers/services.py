"""Writes on containers: Docker actions, tags and desired state. Each one is audited with its actor."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.containers import inventory
from apps.containers.live import push_rows
from apps.containers.models import Container, ContainerTag
from apps.core.audit import record
from apps.core.models import Event
from apps.hosts.engines import engine_for
from apps.tags.models import Tag
from apps.tags.services import normalise, tags_named
from apps.users.access import has_capability
from apps.users.capabilities import Capability
from dockmon_agent.engine.base import Action, EngineError, NotFound

# Operators run containers; renaming and removing change what exists, so they are for admins.
ACTION_CAPABILITY = {
    Action.START: Capability.CONTAINERS_OPERATE,
    Action.STOP: Capability.CONTAINERS_OPERATE,
    Action.RESTART: Capability.CONTAINERS_OPERATE,
    Action.KILL: Capability.CONTAINERS_OPERATE,
    Action.PAUSE: Capability.CONTAINERS_OPERATE,
    Action.UNPAUSE: Capability.CONTAINERS_OPERATE,
    Action.RENAME: Capability.CONTAINERS_MANAGE,
    Action.REMOVE: Capability.CONTAINERS_MANAGE,
}
DONE_WORDS = {
    Action.START: "started",
    Action.STOP: "stopped",
    Action.RESTART: "restarted",
    Action.KILL: "killed",
    Action.PAUSE: "paused",
    Action.UNPAUSE: "resumed",
    Action.RENAME: "renamed",
    Action.REMOVE: "removed",
}


USER_STOPS = {Action.STOP, Action.KILL}


class ContainerGone(NotFound):
    """The container was removed (by someone else) since the page was loaded."""


def _require(user, capability: Capability) -> None:
    if not has_capability(user, capability):
        raise PermissionDenied(f"You need the “{capability}” permission for this.")


def container_act(
    *,
    actor,
    container: Container,
    action: Action,
    new_name: str = "",
    remove_volumes: bool = False,
    reason: str = "",
    request: HttpRequest | None = None,
) -> Container:
    """Apply a Docker action and bring the row up to date; raises EngineError with a readable message.

    `actor` is a user, or an `Event.ActorKind` when DockMon acts by itself (auto-restart, health checks);
    `reason` then says why, in the audit trail.
    """
    automatic = isinstance(actor, str)
    if not automatic:
        _require(actor, ACTION_CAPABILITY[action])
    if container.is_removed:
        raise ContainerGone(f"{container.name} no longer exists on {container.host.name}.")
    host = container.host
    details = {"new_name": new_name, "old_name": container.name} if action == Action.RENAME else {}
    if action == Action.REMOVE:
        details["volumes"] = remove_volumes
    try:
        with engine_for(host) as engine:
            inventory.expect_events(host, container.docker_id, action)
            try:
                engine.act(container.docker_id, action, new_name=new_name, remove_volumes=remove_volumes)
            except NotFound:
                # Removed behind DockMon's back since the page was loaded: say so, and show it removed.
                inventory.refresh(host, engine, container.docker_id)
                raise ContainerGone(f"{container.name} no longer exists on {host.name}.") from None
            row = inventory.refresh(host, engine, container.docker_id) or container
            if action in USER_STOPS and not automatic and not row.stopped_by_user:
                # Alerts and auto-restart leave a container alone that a user stopped on purpose.
                row.stopped_by_user = True
                Container.objects.filter(pk=row.pk).update(stopped_by_user=True)
    except EngineError as error:
        record(
            actor,
            f"containers.{action}",
            container,
            host=host,
            severity=Event.Severity.WARNING,
            message=f"Failed: {error}" + (f" ({reason})" if reason else ""),
            details={**details, "result": "failed"},
            request=request,
        )
        raise
    record(actor, f"containers.{action}", row, host=host, details=details, message=reason, request=request)
    return row


class RestartLimitReached(EngineError):
    """DockMon restarted this container too often lately to do it again by itself."""


SYSTEM_RESTART_LIMIT = 12
SYSTEM_RESTART_WINDOW = timedelta(minutes=10)
SYSTEM_ACTORS = (Event.ActorKind.AUTO_RESTART, Event.ActorKind.SYSTEM)


def system_restarts_lately(container: Container) -> int:
    """How often DockMon itself started or restarted this container within the window (from the audit trail)."""
    return Event.objects.filter(
        actor_kind__in=SYSTEM_ACTORS,
        target_type="container",
        target_id=str(container.pk),
        action__in=("containers.start", "containers.restart"),
        timestamp__gte=timezone.now() - SYSTEM_RESTART_WINDOW,
    ).count()


def system_restart(
    container: Container, *, reason: str, action: Action = Action.RESTART, actor=Event.ActorKind.AUTO_RESTART
) -> Container:
    """Start or restart a container by DockMon's own decision (auto-restart, a failing health check).

    Whatever asks, DockMon never does this more than SYSTEM_RESTART_LIMIT times within SYSTEM_RESTART_WINDOW
    for one container: beyond that it raises RestartLimitReached, so two policies can never loop a container.
    """
    if system_restarts_lately(container) >= SYSTEM_RESTART_LIMIT:
        minutes = int(SYSTEM_RESTART_WINDOW.total_seconds() // 60)
        raise RestartLimitReached(
            f"DockMon already restarted {container.name} {SYSTEM_RESTART_LIMIT} times in {minutes} minutes."
        )
    return container_act(actor=actor, container=container, action=action, reason=reason)


def _touch(container: Container) -> None:
    """Tags changed: a new updated_at makes the cached row HTML stale."""
    container.updated_at = timezone.now()
    Container.objects.filter(pk=container.pk).update(updated_at=container.updated_at)


@transaction.atomic
def container_tag_add(*, actor, container: Container, name: str, request: HttpRequest | None = None) -> Tag:
    _require(actor, Capability.CONTAINERS_OPERATE)
    name = normalise(name)
    if not name:
        raise ValueError("A tag needs a name.")
    tag = tags_named([name])[name]
    _, created = ContainerTag.objects.get_or_create(container=container, tag=tag)
    if created:
        _touch(container)
        record(actor, "containers.tag_add", container, host=container.host, details={"tag": name}, request=request)
        transaction.on_commit(lambda: push_rows([container]))
    return tag


@transaction.atomic
def container_tag_remove(*, actor, container: Container, tag: Tag, request: HttpRequest | None = None) -> None:
    """Remove a user tag. Tags that come from labels follow the labels and cannot be removed here."""
    _require(actor, Capability.CONTAINERS_OPERATE)
    deleted, _ = ContainerTag.objects.filter(container=container, tag=tag, source=ContainerTag.Source.USER).delete()
    if deleted:
        _touch(container)
        record(
            actor, "containers.tag_remove", container, host=container.host, details={"tag": tag.name}, request=request
        )
        transaction.on_commit(lambda: push_rows([container]))


@transaction.atomic
def container_desired_state_set(
    *, actor, container: Container, desired_state: str, request: HttpRequest | None = None
) -> Container:
    _require(actor, Capability.CONTAINERS_OPERATE)
    desired = Container.DesiredState(desired_state)
    if container.desired_state != desired:
        old = container.desired_state
        container.desired_state = desired
        container.save(update_fields=["desired_state", "updated_at"])
        record(
            actor,
            "containers.desired_state",
            container,
            host=container.host,
            details={"from": old, "to": desired.value},
            request=request,
        )
        transaction.on_commit(lambda: push_rows([container]))
    return container
