from __future__ import annotations

from typing import Self

from django.conf import settings
from django.db import models


class Event(models.Model):
    """One entry of the audit trail: who did what to which thing, and when.

    Written only through `apps.core.audit.record`.
    """

    class ActorKind(models.TextChoices):
        USER = "user", "User"
        SYSTEM = "system", "System"
        AUTO_RESTART = "auto_restart", "Auto-restart"
        ALERT = "alert", "Alert"
        AGENT = "agent", "Agent"
        DOCKER = "docker", "Docker (outside DockMon)"
        ANONYMOUS = "anonymous", "Anonymous"

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"
        CRITICAL = "critical", "Critical"

    timestamp = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices, default=ActorKind.SYSTEM)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text so the trail still names a user after the account is deleted.
    actor_name = models.CharField(max_length=150, blank=True)
    category = models.CharField(max_length=32, db_index=True)
    action = models.CharField(max_length=64)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.INFO, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_name = models.CharField(max_length=255, blank=True)
    host = models.ForeignKey("hosts.Host", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The host's name at the time, kept when the host is deleted.
    host_name = models.CharField(max_length=255, blank=True, db_index=True)
    message = models.CharField(max_length=500, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["category", "-timestamp"])]

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.actor_name or self.actor_kind} {self.action}"


class SingleRow(models.Model):
    """A model of one row (settings), created with its defaults on first use."""

    class Meta:
        abstract = True

    @classmethod
    def load(cls) -> Self:
        row, _ = cls.objects.get_or_create(pk=1)
        return row


class AppSettings(SingleRow):
    """Global settings changed from the Settings page; one row, created on first use."""

    instance_name = models.CharField(
        max_length=60, default="DockMon", help_text="Shown in the page title and in notifications."
    )
    event_retention_days = models.PositiveIntegerField(
        default=90, help_text="Audit events older than this are deleted every night (1–3650 days)."
    )
    # Set once the local Docker socket was offered as a host, so deleting that host is final.
    local_host_offered = models.BooleanField(default=False, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "settings"
        verbose_name_plural = "settings"

    def __str__(self) -> str:
        return "DockMon settings"
