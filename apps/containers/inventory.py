"""Keeping DockMon's container records in step with Docker.

Two ways in, one way to write: a full sync (when a host is added, on every reconnect and
every ~30 s) and single Docker events (from the events listener, or an agent) both end in
`_upsert`. Rows are keyed by host and name, so a recreated container keeps its row, and a
renamed one takes its row along (matched by id first).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from apps.containers.live import push_rows
from apps.containers.models import Container, ContainerTag
from apps.containers.signals import Happening, container_events, containers_synced
from apps.core.audit import record
from apps.core.models import Event
from apps.core.signals import announce
from apps.hosts.models import Host
from apps.tags.services import COMPOSE_PROJECT_LABEL, label_tag_names, tags_named
from dockmon_agent.engine.base import Action, ContainerSnapshot, DockerEvent, Engine, NotFound

logger = logging.getLogger(__name__)

# Fields whose change is worth a write and a live push. Docker's `status` text ("Up 3 minutes")
# changes every minute by itself, so it rides along but never triggers an update.
TRACKED_FIELDS = (
    "docker_id", "image", "image_id", "command", "entrypoint", "state", "health", "exit_code", "oom_killed",
    "created", "started_at", "finished_at", "restart_policy", "restart_count", "ports", "labels", "networks",
    "mounts", "compose_project", "search_text",
)  # fmt: skip

# Docker events that change what we show; each is answered by one inspect of the container.
INSPECTED_EVENTS = {
    "create", "start", "restart", "die", "stop", "kill", "oom", "pause", "unpause", "rename", "health_status",
    "update",
}  # fmt: skip
# Events that belong in the audit trail when they come from outside DockMon.
AUDITED_EVENTS = {
    "create", "start", "die", "stop", "kill", "oom", "pause", "unpause", "destroy", "rename", "health_status",
}  # fmt: skip

# Written by every sync too: what the inventory keeps about a row besides Docker's own facts.
BOOKKEEPING_FIELDS = (
    "name", "status", "state_changed_at", "removed_at", "updated_at", "stopped_by_user",
)  # fmt: skip

EXPECTATION_SECONDS = 60


def snapshot_fields(snap: ContainerSnapshot) -> dict:
    labels = dict(snap.labels)
    return {
        "docker_id": snap.id,
        "image": snap.image,
        "image_id": snap.image_id,
        "command": list(snap.command),
        "entrypoint": list(snap.entrypoint),
        "state": snap.state.value,
        "status": snap.status,
        "health": snap.health.value,
        "exit_code": snap.exit_code,
        "oom_killed": snap.oom_killed,
        "created": snap.created,
        "started_at": snap.started_at,
        "finished_at": snap.finished_at,
        "restart_policy": snap.restart_policy,
        "restart_count": snap.restart_count,
        "ports": [asdict(port) for port in snap.ports],
        "labels": labels,
        "networks": dict(snap.networks),
        "mounts": [asdict(mount) for mount in snap.mounts],
        "compose_project": labels.get(COMPOSE_PROJECT_LABEL, ""),
        "search_text": " ".join([snap.name, snap.image, *(f"{k}={v}" for k, v in labels.items())]).lower(),
    }


@dataclass
class SyncResult:
    created: list[Container] = field(default_factory=list)
    updated: list[Container] = field(default_factory=list)
    revived: list[Container] = field(default_factory=list)  # marked removed before, back now
    removed: list[Container] = field(default_factory=list)


def _new_row(host: Host, snap: ContainerSnapshot, values: dict) -> Container:
    now = timezone.now()
    # A container first seen running is meant to run, and so is one just created (`docker run` sends create and
    # start apart); one first seen stopped is started when needed.
    meant_to_run = snap.state in (Container.State.RUNNING, Container.State.CREATED, Container.State.RESTARTING)
    desired = Container.DesiredState.SHOULD_RUN if meant_to_run else Container.DesiredState.ON_DEMAND
    return Container(host=host, name=snap.name, desired_state=desired, first_seen=now, state_changed_at=now, **values)


def _apply(row: Container, values: dict) -> bool:
    """Copy values onto the row; True when a tracked field changed or the row comes back from removed."""
    changed = row.is_removed or any(getattr(row, name) != values[name] for name in TRACKED_FIELDS)
    if row.state != values["state"]:
        row.state_changed_at = timezone.now()
        if values["state"] == Container.State.RUNNING:
            row.stopped_by_user = False  # running again: a later exit is news
    for name, value in values.items():
        setattr(row, name, value)
    row.removed_at = None
    return changed


def _sync_label_tags(rows: list[Container]) -> None:
    """Make each row's label-derived tags match its labels; user tags are left alone."""
    wanted = {row.pk: label_tag_names(row.labels) for row in rows}
    tags = tags_named(set().union(*wanted.values())) if wanted else {}
    links = ContainerTag.objects.filter(container__in=rows).select_related("tag")
    have: dict[int, dict[str, ContainerTag]] = {row.pk: {} for row in rows}
    for link in links:
        have[link.container_id][link.tag.name] = link
    stale = [
        link.pk
        for pk, names in have.items()
        for name, link in names.items()
        if link.source == ContainerTag.Source.LABEL and name not in wanted[pk]
    ]
    if stale:
        ContainerTag.objects.filter(pk__in=stale).delete()
    new_links = [
        ContainerTag(container_id=pk, tag=tags[name], source=ContainerTag.Source.LABEL)
        for pk, names in wanted.items()
        for name in names
        if name not in have[pk]
    ]
    ContainerTag.objects.bulk_create(new_links, ignore_conflicts=True)


def sync_host(host: Host, engine: Engine) -> SyncResult:
    """Make the host's rows match Docker's list; what Docker no longer has is marked removed."""
    # Ask Docker first: a slow host must not hold the database's write lock.
    snapshots = engine.containers()
    with transaction.atomic():
        return _sync_rows(host, snapshots)


def _sync_rows(host: Host, snapshots: list[ContainerSnapshot]) -> SyncResult:
    result = SyncResult()
    _lock_host(host)
    rows = list(Container.objects.filter(host=host))
    by_id = {row.docker_id: row for row in rows}
    by_name = {row.name: row for row in rows}
    seen: set[int] = set()
    for snap in snapshots:
        row = by_id.get(snap.id) or by_name.get(snap.name)
        values = snapshot_fields(snap)
        if row is None:
            result.created.append(_new_row(host, snap, values))
            continue
        if row.name != snap.name:  # renamed while we were not listening
            clash = by_name.get(snap.name)
            if clash is not None and clash is not row:
                clash.delete()
                seen.add(clash.pk)
            row.name = snap.name
            _apply(row, values)
            result.updated.append(row)
        else:
            revived = row.is_removed
            if _apply(row, values):
                (result.revived if revived else result.updated).append(row)
        seen.add(row.pk)
    now = timezone.now()
    for row in rows:
        if row.pk not in seen and not row.is_removed:
            row.state, row.removed_at, row.state_changed_at = Container.State.REMOVED, now, now
            result.removed.append(row)
    Container.objects.bulk_create(result.created)
    changed = result.updated + result.revived + result.removed
    for row in changed:
        row.updated_at = now  # bulk_update skips auto_now; cached row HTML is keyed by it
    if changed:
        Container.objects.bulk_update(
            changed,
            [*TRACKED_FIELDS, *BOOKKEEPING_FIELDS],
            batch_size=200,
        )
    _sync_label_tags(result.created + result.updated + result.revived)
    for row in result.removed:
        record(
            Event.ActorKind.DOCKER, "containers.gone", row, host=host, message=f"{row.name} is no longer on {host.name}"
        )
    transaction.on_commit(lambda: push_rows(result.created + result.revived, new=True))
    transaction.on_commit(lambda: push_rows(result.updated + result.removed))
    transaction.on_commit(lambda: announce(containers_synced, host, result=result))
    return result


# --- single events --------------------------------------------------------------------------------


def _expectation_key(host: Host, docker_id: str) -> str:
    return f"containers:expect:{host.pk}:{docker_id}"


# The events each action makes Docker send, and the one that ends it. Only those are the action's own: a crash
# right after DockMon started a container is news, not DockMon's doing.
ACTION_EVENTS: dict[str, tuple[frozenset[str], str]] = {
    Action.START: (frozenset({"start"}), "start"),
    Action.STOP: (frozenset({"kill", "die", "stop"}), "stop"),
    Action.KILL: (frozenset({"kill", "die"}), "die"),
    Action.RESTART: (frozenset({"kill", "die", "stop", "start", "restart"}), "restart"),
    Action.PAUSE: (frozenset({"pause"}), "pause"),
    Action.UNPAUSE: (frozenset({"unpause"}), "unpause"),
    Action.RENAME: (frozenset({"rename"}), "rename"),
    Action.REMOVE: (frozenset({"kill", "die", "stop", "destroy"}), "destroy"),
}


def expect_events(host: Host, docker_id: str, action: Action) -> None:
    """DockMon is about to act on this container (for a user, or by itself): the Docker events that action
    causes are already audited as that action, and are not news for alerts or auto-restart."""
    cache.set(_expectation_key(host, docker_id), action.value, EXPECTATION_SECONDS)


def _caused_by_dockmon(host: Host, event: DockerEvent) -> bool:
    """Is this event part of an action DockMon took? The expectation ends with the action's last event."""
    key = _expectation_key(host, event.container_id)
    action = cache.get(key)
    if action not in ACTION_EVENTS:
        return False
    expected, last = ACTION_EVENTS[action]
    if event.action == last:
        cache.delete(key)
    return event.action in expected


def _audit_event(host: Host, row: Container, event: DockerEvent) -> None:
    if event.action not in AUDITED_EVENTS:
        return
    severity = Event.Severity.INFO
    details: dict = {}
    if event.action == "die":
        code = event.attributes.get("exitCode", "")
        details["exit_code"] = int(code) if code.lstrip("-").isdigit() else code
        if details["exit_code"] not in (0, "", 143):
            severity = Event.Severity.WARNING
    elif event.action == "oom":
        severity = Event.Severity.ERROR
    elif event.action == "health_status":
        details["health"] = event.health.value if event.health else ""
        if event.health == "unhealthy":
            severity = Event.Severity.WARNING
    elif event.action == "rename":
        details["old_name"] = event.attributes.get("oldName", "").lstrip("/")
    elif event.action == "kill":
        details["signal"] = event.attributes.get("signal", "")
    record(Event.ActorKind.DOCKER, f"containers.{event.action}", row, host=host, severity=severity, details=details)


@dataclass
class Change:
    """What happened to one row: `new` rows are appended to tables, the others replace theirs."""

    row: Container | None
    new: bool = False
    changed: bool = False


def apply_events(host: Host, engine: Engine, events: list[DockerEvent]) -> list[Container]:
    """Bring the records up to date after a batch of Docker events, and audit the events that came from
    outside DockMon. Each container is read from Docker once per batch, however many events it had, and
    all changed rows go out in one push: a burst of hundreds of events costs little more than one."""
    last_event: dict[str, DockerEvent] = {}
    for event in events:
        if event.action == "destroy" or event.action in INSPECTED_EVENTS:
            last_event[event.container_id] = event
    changes = {
        docker_id: _mark_removed(host, docker_id) if event.action == "destroy" else _refresh(host, engine, docker_id)
        for docker_id, event in last_event.items()
    }
    happenings = []
    for event in events:
        change = changes.get(event.container_id)
        if change is not None and change.row is not None:
            by_dockmon = _caused_by_dockmon(host, event)
            if not by_dockmon:
                _audit_event(host, change.row, event)
            happenings.append(
                Happening(
                    container=change.row,
                    action=event.action,
                    time=event.time,
                    attributes=dict(event.attributes),
                    health=event.health.value if event.health else "",
                    by_dockmon=by_dockmon,
                )
            )
    _push(changes.values())
    if happenings:
        announce(container_events, host, happenings=happenings)
    return [change.row for change in changes.values() if change.row is not None]


def refresh(host: Host, engine: Engine, docker_id: str) -> Container | None:
    """Re-read one container from Docker and update (or create) its row; pushes it when it changed."""
    change = _refresh(host, engine, docker_id)
    _push([change])
    return change.row


def _push(changes) -> None:
    changes = [change for change in changes if change.changed and change.row is not None]
    push_rows([c.row for c in changes if c.new], new=True)
    push_rows([c.row for c in changes if not c.new])


def _refresh(host: Host, engine: Engine, docker_id: str) -> Change:
    try:
        snap = engine.container(docker_id)
    except NotFound:
        return _mark_removed(host, docker_id)
    with transaction.atomic():
        _lock_host(host)
        return _upsert(host, snap)


def _lock_host(host: Host) -> None:
    """Serialise writes to one host's rows (a full sync and single events may run at once elsewhere)."""
    Host.objects.select_for_update().filter(pk=host.pk).values_list("pk", flat=True).first()


def _upsert(host: Host, snap: ContainerSnapshot) -> Change:
    values = snapshot_fields(snap)
    row = (
        Container.objects.filter(host=host, docker_id=snap.id).first()
        or Container.objects.filter(host=host, name=snap.name).first()
    )
    if row is None:
        row = _new_row(host, snap, values)
        row.save()
        _sync_label_tags([row])
        return Change(row, new=True, changed=True)
    # A removed row that comes back was hidden from tables: it is new to them.
    revived = row.is_removed
    if row.name != snap.name:
        Container.objects.filter(host=host, name=snap.name).exclude(pk=row.pk).delete()
        row.name = snap.name
        _apply(row, values)
        changed = True
    else:
        changed = _apply(row, values)
    if changed:
        row.save()
        _sync_label_tags([row])
    return Change(row, new=revived, changed=changed)


def _mark_removed(host: Host, docker_id: str) -> Change:
    with transaction.atomic():
        _lock_host(host)
        row = Container.objects.filter(host=host, docker_id=docker_id).first()
        if row is None or row.is_removed:
            return Change(row)
        now = timezone.now()
        row.state, row.removed_at, row.state_changed_at = Container.State.REMOVED, now, now
        row.save(update_fields=["state", "removed_at", "state_changed_at", "updated_at"])
    return Change(row, changed=True)
