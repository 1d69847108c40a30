from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.hosts.models import Host


class RegistrationToken(models.Model):
    """A token an agent trades for its permanent credential. Shown once; only its hash is stored."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="agent_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    multi_use = models.BooleanField(default=False, help_text="Several agents may register with it (until it expires).")
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"registration token for {self.host}"

    @property
    def usable(self) -> bool:
        return self.expires_at > timezone.now() and (self.multi_use or self.used_at is None)


class AgentCredential(models.Model):
    """The permanent secret of the agent serving a host. Only its hash is stored."""

    host = models.OneToOneField(Host, on_delete=models.CASCADE, related_name="agent_credential")
    secret_hash = models.CharField(max_length=64, unique=True)
    agent_name = models.CharField(max_length=255, blank=True)
    agent_version = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_connected_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"agent credential for {self.host}"
