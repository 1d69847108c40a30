"""A host's images, networks and volumes: read live from its engine, removed and pruned with an audit record.

Nothing here is stored: each list is asked of the daemon when it is shown. The three kinds share one code
path; what differs between them is described once, in `KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

from apps.core.audit import record
from apps.core.models import Event
from apps.hosts.engines import engine_for
from apps.hosts.models import Host
from apps.users.access import has_capability
from apps.users.capabilities import Capability
from dockmon_agent.engine.base import (
    Conflict,
    Engine,
    EngineError,
    ImageInfo,
    NetworkInfo,
    NotFound,
    PruneResult,
    VolumeInfo,
)


def short_id(docker_id: str) -> str:
    """The 12 characters people know an id by (without "sha256:")."""
    return docker_id.removeprefix("sha256:")[:12]


@dataclass(frozen=True)
class Row:
    """One line of a resource table."""

    ref: str  # what its remove button posts: an image tag (the id when untagged), a network id, a volume name
    label: str  # how people name it: "nginx:1.27", the network's or the volume's name
    id: str  # Docker's full id (a volume's id is its name)
    item: ImageInfo | NetworkInfo | VolumeInfo
    removable: bool = True  # False for the built-in networks

    @property
    def short_id(self) -> str:
        return short_id(self.id)


@dataclass(frozen=True)
class ResourceKind:
    """Everything that differs between images, networks and volumes."""

    slug: str  # in the URL, and the plural: "images"
    noun: str  # "image"
    unused: str  # what prune removes, for messages: "dangling images"
    template: str
    rows: Callable[[Engine], list[Row]]
    remove: Callable[[Engine, str, bool], None]  # (engine, ref, force)
    prune: Callable[[Engine], PruneResult]
    remove_action: str
    prune_action: str

    def count(self, number: int) -> str:
        return f"{number} {self.noun if number == 1 else self.slug}"


def _image_rows(engine: Engine) -> list[Row]:
    # One row per tag, like `docker images`: removing a tag is what people mean by "remove nginx:1.27",
    # and removing an image with several tags by id would take all of them (or fail without force).
    rows = []
    for image in engine.images():
        if image.tags:
            rows += [Row(tag, tag, image.id, image) for tag in image.tags]
        else:
            rows.append(Row(image.id, short_id(image.id), image.id, image))  # untagged: its id names it
    return sorted(rows, key=lambda row: (not row.item.tags, row.label))


def _network_rows(engine: Engine) -> list[Row]:
    rows = [Row(net.id, net.name, net.id, net, removable=not net.builtin) for net in engine.networks()]
    return sorted(rows, key=lambda row: row.label)


def _volume_rows(engine: Engine) -> list[Row]:
    return sorted((Row(vol.name, vol.name, vol.name, vol) for vol in engine.volumes()), key=lambda row: row.label)


KINDS: dict[str, ResourceKind] = {
    kind.slug: kind
    for kind in (
        ResourceKind(
            slug="images",
            noun="image",
            unused="dangling images",
            template="hosts/widgets/resources_images.html",
            rows=_image_rows,
            remove=lambda engine, ref, force: engine.remove_image(ref, force=force),
            prune=lambda engine: engine.prune_images(),
            remove_action="hosts.image_remove",
            prune_action="hosts.images_prune",
        ),
        ResourceKind(
            slug="networks",
            noun="network",
            unused="unused networks",
            template="hosts/widgets/resources_networks.html",
            rows=_network_rows,
            remove=lambda engine, ref, force: engine.remove_network(ref),
            prune=lambda engine: engine.prune_networks(),
            remove_action="hosts.network_remove",
            prune_action="hosts.networks_prune",
        ),
        ResourceKind(
            slug="volumes",
            noun="volume",
            unused="unused volumes",
            template="hosts/widgets/resources_volumes.html",
            rows=_volume_rows,
            remove=lambda engine, ref, force: engine.remove_volume(ref),
            prune=lambda engine: engine.prune_volumes(),
            remove_action="hosts.volume_remove",
            prune_action="hosts.volumes_prune",
        ),
    )
}


def _require_manage(user: Any) -> None:
    # The views check too; services must not rely on being called from a checked view.
    if not has_capability(user, Capability.HOSTS_MANAGE):
        raise PermissionDenied(f"You need the “{Capability.HOSTS_MANAGE}” permission for this.")


def resource_rows(host: Host, kind: ResourceKind) -> list[Row]:
    """The host's images, networks or volumes as they are now; raises EngineError."""
    with engine_for(host) as engine:
        return kind.rows(engine)


def resource_remove(
    *, actor: Any, host: Host, kind: ResourceKind, ref: str, force: bool = False, request: HttpRequest | None = None
) -> Row:
    """Remove one image (tag), network or volume and return its row; raises EngineError with a readable message.

    The object is looked up first, so the audit record names it (id and name) whatever the form posted, and a
    built-in network is refused before Docker is asked.
    """
    _require_manage(actor)
    details: dict[str, Any] = {"ref": ref, "force": force}
    try:
        with engine_for(host) as engine:
            row = next((r for r in kind.rows(engine) if r.ref == ref), None)
            if row is None:
                raise NotFound(f"There is no {kind.noun} “{ref}” on {host.name} (any more).")
            details = {"id": row.id, "name": row.label, "force": force}
            if not row.removable:
                raise Conflict(f"The network {row.label} is built into Docker and cannot be removed.")
            kind.remove(engine, ref, force)
    except EngineError as error:
        # Failed attempts are audited too (as the container actions are): who tried what, and why it failed.
        record(
            actor,
            kind.remove_action,
            host=host,
            severity=Event.Severity.WARNING,
            request=request,
            message=f"{details.get('name', ref)}: failed: {error}",
            details={**details, "result": "failed"},
        )
        raise
    record(actor, kind.remove_action, host=host, message=row.label, details=details, request=request)
    return row


def prune_summary(kind: ResourceKind, result: PruneResult) -> str:
    """ "Pruned 3 images, 120.0 MB reclaimed." for a toast and the audit trail."""
    if not result.removed:
        return f"Nothing to prune: there are no {kind.unused}."
    reclaimed = f", {filesizeformat(result.space_reclaimed_bytes)} reclaimed" if result.space_reclaimed_bytes else ""
    return f"Pruned {kind.count(len(result.removed))}{reclaimed}."


def resource_prune(*, actor: Any, host: Host, kind: ResourceKind, request: HttpRequest | None = None) -> PruneResult:
    """Prune the host's dangling images, unused networks or unused volumes; raises EngineError."""
    _require_manage(actor)
    try:
        with engine_for(host) as engine:
            result = kind.prune(engine)
    except EngineError as error:
        record(
            actor,
            kind.prune_action,
            host=host,
            severity=Event.Severity.WARNING,
            request=request,
            message=f"Failed: {error}",
            details={"result": "failed"},
        )
        raise
    details = {"removed": list(result.removed), "space_reclaimed_bytes": result.space_reclaimed_bytes}
    record(actor, kind.prune_action, host=host, message=prune_summary(kind, result), details=details, request=request)
    return result
