from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone
from encrypted_model_fields.fields import EncryptedTextField

from apps.tags.models import Tag

# A client certificate this close to expiry gets a warning on the host pages.
CERT_WARNING_DAYS = 30


class Host(models.Model):
    """A Docker host DockMon watches: the local socket, a daemon over mutual TLS, or an agent."""

    class Kind(models.TextChoices):
        SOCKET = "socket", "Local socket"
        TLS = "tls", "Remote daemon (mutual TLS)"
        AGENT = "agent", "Agent"

    class Status(models.TextChoices):
        PENDING = "pending", "Not checked yet"
        ONLINE = "online", "Online"
        OFFLINE = "offline", "Offline"
        ERROR = "error", "Needs attention"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    url = models.CharField(max_length=255, blank=True, help_text="unix:///var/run/docker.sock or tcp://host:2376")
    description = models.TextField(blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="hosts")

    # TLS material: stored encrypted, never rendered back; the facts below describe it instead.
    tls_ca = EncryptedTextField(blank=True)
    tls_cert = EncryptedTextField(blank=True)
    tls_key = EncryptedTextField(blank=True)
    ca_subject = models.CharField(max_length=255, blank=True)
    client_cert_subject = models.CharField(max_length=255, blank=True)
    client_cert_fingerprint = models.CharField(max_length=95, blank=True)  # SHA-256, colon separated
    client_cert_not_after = models.DateTimeField(null=True, blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Reconnect back-off: 5 s doubling to 5 min while the host stays unreachable.
    retry_delay_seconds = models.PositiveIntegerField(default=0)
    next_check_at = models.DateTimeField(null=True, blank=True)

    facts = models.JSONField(default=dict, blank=True)
    facts_updated_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_online(self) -> bool:
        return self.status == self.Status.ONLINE

    @property
    def published_address(self) -> str:
        """Where a browser reaches ports the host publishes on all interfaces."""
        if self.kind == self.Kind.TLS:
            return urlsplit(self.url.replace("tcp://", "http://", 1)).hostname or ""
        if self.kind == self.Kind.AGENT:
            return self.facts.get("name", "")  # the remote machine's own host name, as its Docker reports it
        return urlsplit(settings.EXTERNAL_URL).hostname or "127.0.0.1"

    @property
    def cert_expires_soon(self) -> bool:
        return bool(
            self.client_cert_not_after
            and self.client_cert_not_after - timezone.now() < timedelta(days=CERT_WARNING_DAYS)
        )

    @property
    def cert_expired(self) -> bool:
        return bool(self.client_cert_not_after and self.client_cert_not_after <= timezone.now())


# Kinds DockMon dials itself: it follows their events and polls their facts.
DIALLED_KINDS = (Host.Kind.SOCKET, Host.Kind.TLS)
