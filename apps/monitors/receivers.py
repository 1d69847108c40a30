"""Label-made health checks follow the containers' labels as the inventory learns them."""

from __future__ import annotations

from django.dispatch import receiver

from apps.containers.signals import container_events, containers_synced
from apps.monitors.services import sync_label_checks


@receiver(containers_synced, dispatch_uid="monitors.label_checks_on_sync")
def label_checks_on_sync(sender, result, **kwargs) -> None:
    sync_label_checks(result.created + result.updated + result.revived)


@receiver(container_events, dispatch_uid="monitors.label_checks_on_events")
def label_checks_on_events(sender, happenings, **kwargs) -> None:
    rows = {h.container.pk: h.container for h in happenings if h.action != "destroy"}
    sync_label_checks(rows.values())
