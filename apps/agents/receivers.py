"""A deleted host's agent is cut off at once (its credential went with the host)."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from apps.agents.services import disconnect
from apps.hosts.models import Host


@receiver(post_delete, sender=Host, dispatch_uid="agents.host_deleted")
def _host_deleted(sender, instance: Host, **kwargs) -> None:
    if instance.kind == Host.Kind.AGENT:
        disconnect(instance.pk, "The host was deleted in DockMon.")
