from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from apps.containers.models import Container
from apps.core.models import SingleRow

MAX_ATTEMPTS_LIMIT = 10
# Every exit of one episode: the first one plus one per attempt.
EXIT_CODES_KEPT = MAX_ATTEMPTS_LIMIT + 1


class AutoRestartSettings(SingleRow):
    """Defaults for containers DockMon sees for the first time, and the back-off every policy follows; one row."""

    enabled_for_new = models.BooleanField(
        default=False, help_text="Containers DockMon sees for the first time from now on get auto-restart turned on."
    )
    default_max_attempts = models.PositiveSmallIntegerField(
        default=3,
        validators=[MaxValueValidator(MAX_ATTEMPTS_LIMIT)],
        help_text="Attempts given to containers first seen from now on (0 to 10; 0 only reports the exit).",
    )
    first_delay_seconds = models.PositiveIntegerField(
        default=30, help_text="Wait before the first attempt; it doubles with every further attempt."
    )
    max_delay_seconds = models.PositiveIntegerField(default=600, help_text="The doubling stops at this delay.")
    stable_after_seconds = models.PositiveIntegerField(
        default=300, help_text="A container that stays up this long starts afresh with all its attempts."
    )
    # When the defaults for new containers last changed: a container first seen earlier never gets them.
    defaults_changed_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "auto-restart settings"
        verbose_name_plural = "auto-restart settings"

    def __str__(self) -> str:
        return "auto-restart settings"

    def delay_before(self, attempt: int) -> int:
        """Seconds to wait before attempt number `attempt` (1 for the first): doubling, capped."""
        return min(self.first_delay_seconds * 2 ** (attempt - 1), self.max_delay_seconds)


class RestartPolicy(models.Model):
    """Auto-restart of one container: the user's choice and where the current episode stands.

    An episode starts with an unexpected exit and ends when the container has stayed up for "stable after"
    seconds (or a user resets it); it is what the attempts are counted in.
    """

    container = models.OneToOneField(Container, on_delete=models.CASCADE, related_name="autorestart")
    enabled = models.BooleanField(default=False)
    max_attempts = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(0), MaxValueValidator(MAX_ATTEMPTS_LIMIT)]
    )

    attempts = models.PositiveSmallIntegerField(default=0, help_text="Attempts used in this episode.")
    exit_codes = models.JSONField(default=list, blank=True, help_text="Exit codes of this episode, newest last.")
    # Docker's FinishedAt of the last exit counted: the same exit seen twice (event and reconcile) counts once.
    last_exit_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    gave_up_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # Stopped on purpose outside DockMon (`docker stop`): left alone until it runs again, as Docker's
    # unless-stopped would.
    held_since = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "auto-restart policy"
        verbose_name_plural = "auto-restart policies"

    def __str__(self) -> str:
        return f"auto-restart of {self.container}"

    @property
    def in_episode(self) -> bool:
        return bool(self.attempts or self.exit_codes or self.gave_up_at or self.next_attempt_at)
