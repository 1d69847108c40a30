from __future__ import annotations

from django.db import models
from django.utils import timezone
from encrypted_model_fields.fields import EncryptedTextField

# A channel that failed this many deliveries in a row is flagged on its page.
FAILING_AFTER = 3


class Channel(models.Model):
    """Where notifications go. The kind's form fields are kept as JSON in one encrypted field (they hold
    tokens, webhook URLs and passwords); the apprise URL is built from them when sending."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=32)  # a key of apps.notifications.kinds.KINDS
    config = EncryptedTextField(help_text="The kind's fields as JSON, encrypted at rest.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_failing(self) -> bool:
        return self.consecutive_failures >= FAILING_AFTER


class Delivery(models.Model):
    """One notification to one channel, from its creation to sent, failed for good, or cancelled."""

    class Status(models.TextChoices):
        DEFERRED = "deferred", "Deferred (quiet hours)"
        PENDING = "pending", "Sending"
        RETRYING = "retrying", "Waiting to retry"
        SENT = "sent", "Sent"
        FAILED = "failed", "Gave up"
        CANCELLED = "cancelled", "Not sent"

    channel = models.ForeignKey(Channel, null=True, on_delete=models.SET_NULL, related_name="deliveries")
    channel_name = models.CharField(max_length=100)  # kept when the channel is deleted
    # What it was about, kept as plain values so notifications need not know the alerts app.
    alert_id = models.PositiveIntegerField(null=True, blank=True, db_index=True)
    rule_name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=16, default="fire")  # fire, resolve, test, repeat
    severity = models.CharField(max_length=10, default="info")
    title = models.CharField(max_length=250)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    not_before = models.DateTimeField(null=True, blank=True)  # deferred until (quiet hours end)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.title} → {self.channel_name} ({self.status})"
