"""Changes made in the Django admin reach the audit trail through the admin's own log."""

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.core.audit import record
from apps.core.models import Event

ADMIN_ACTIONS = {ADDITION: "admin.add", CHANGE: "admin.change", DELETION: "admin.delete"}


@receiver(post_save, sender=LogEntry, dispatch_uid="audit.admin_log")
def _admin_change(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if not created:
        return
    record(
        instance.user,
        ADMIN_ACTIONS[instance.action_flag],
        severity=Event.Severity.WARNING if instance.action_flag == DELETION else Event.Severity.INFO,
        details={
            "model": f"{instance.content_type.app_label}.{instance.content_type.model}"
            if instance.content_type
            else "",
            "object_id": instance.object_id,
            "change": instance.get_change_message(),
        },
        message=f"{instance.content_type.name if instance.content_type else 'object'} “{instance.object_repr}”",
    )
