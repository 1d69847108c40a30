"""A deleted host's live figures go with it (its history goes with its rows, by cascade)."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from apps.hosts.models import Host
from apps.metrics import store


@receiver(post_delete, sender=Host, dispatch_uid="metrics.host_deleted")
def _host_deleted(sender, instance: Host, **kwargs) -> None:
    store.forget(instance.pk)
