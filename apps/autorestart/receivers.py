"""Auto-restart listens to the inventory: new containers get their policy, exits and stops are acted on."""

from __future__ import annotations

from django.dispatch import receiver

from apps.autorestart import restarter
from apps.containers.signals import container_events, containers_synced


@receiver(containers_synced, dispatch_uid="autorestart.containers_synced")
def policies_for_new_containers(sender, result, **kwargs) -> None:
    restarter.ensure_policies(result.created)


@receiver(container_events, dispatch_uid="autorestart.container_events")
def follow_container_events(sender, happenings, **kwargs) -> None:
    restarter.on_container_events(happenings)
