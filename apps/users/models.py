from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from apps.users.capabilities import CAPABILITY_LABELS, Role


class User(AbstractUser):
    """A DockMon user. The role is the one built-in group the user belongs to."""

    class Theme(models.TextChoices):
        AUTO = "auto", "Follow the system"
        LIGHT = "light", "Light"
        DARK = "dark", "Dark"

    theme = models.CharField(max_length=8, choices=Theme.choices, default=Theme.AUTO)
    preferences = models.JSONField(default=dict, blank=True, help_text="Per-user UI choices such as sort orders.")

    class Meta:
        ordering = ["username"]

    @property
    def role(self) -> Role | None:
        if self.is_superuser:
            return Role.ADMIN
        names = {group.name for group in self.groups.all()}
        for role in Role:
            if role.group_name in names:
                return role
        return None


class CapabilityHolder(models.Model):
    """No table: exists only to own DockMon's capability permissions (`users.<capability>`)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [(str(capability), label) for capability, label in CAPABILITY_LABELS.items()]
        verbose_name = "capability"

    def __str__(self) -> str:
        return "capability"
