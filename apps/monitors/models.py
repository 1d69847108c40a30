from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone
from encrypted_model_fields.fields import EncryptedTextField

from apps.containers.models import Container

# Results older than this are deleted by the "monitors.purge_results" beat task.
RESULT_RETENTION = timedelta(days=7)
LABEL = "dockmon.healthcheck.url"


class HealthCheck(models.Model):
    """An HTTP(S) check of one container. It hangs on the container's row, which is keyed by host and
    name, so the check follows the container when it is recreated with a new id."""

    class Method(models.TextChoices):
        GET = "GET", "GET"
        POST = "POST", "POST"
        HEAD = "HEAD", "HEAD"

    class AuthKind(models.TextChoices):
        NONE = "none", "None"
        BASIC = "basic", "Basic (user and password)"
        BEARER = "bearer", "Bearer token"

    class Status(models.TextChoices):
        UNKNOWN = "unknown", "Pending"  # not checked yet, or failing below the threshold
        HEALTHY = "healthy", "Healthy"
        UNHEALTHY = "unhealthy", "Unhealthy"

    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="health_checks")
    url = models.CharField("URL", max_length=2000)
    method = models.CharField(max_length=4, choices=Method.choices, default=Method.GET)
    expected_statuses = models.CharField(max_length=200, default="200-299")
    keyword = models.CharField(max_length=200, blank=True)
    headers = models.TextField(blank=True)
    auth_kind = models.CharField(max_length=6, choices=AuthKind.choices, default=AuthKind.NONE)
    auth_username = models.CharField(max_length=200, blank=True)
    # The basic-auth password or the bearer token: stored encrypted, never rendered back.
    auth_secret = EncryptedTextField(blank=True)
    timeout_seconds = models.PositiveSmallIntegerField(default=10)
    interval_seconds = models.PositiveIntegerField(default=60)
    follow_redirects = models.BooleanField(default=True)
    verify_tls = models.BooleanField(default=True)
    failure_threshold = models.PositiveSmallIntegerField(default=3)
    success_threshold = models.PositiveSmallIntegerField(default=1)
    enabled = models.BooleanField(default=True)
    restart_on_unhealthy = models.BooleanField(default=False)
    restart_attempts = models.PositiveSmallIntegerField(default=3)
    restart_delay_seconds = models.PositiveIntegerField(default=120)
    # Made from the container's dockmon.healthcheck.url label: it follows the label, not the forms.
    from_label = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNKNOWN)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    consecutive_successes = models.PositiveIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_response_ms = models.PositiveIntegerField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # Claimed by the scheduler (moved one interval on) before the check is queued: one run per interval.
    next_check_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The unhealthy episode's restarts: counted from when the check turns unhealthy until it is healthy again.
    restarts_in_episode = models.PositiveSmallIntegerField(default=0)
    next_restart_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["container", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["container"], condition=models.Q(from_label=True), name="monitors_one_label_check"
            )
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


class CheckResult(models.Model):
    health_check = models.ForeignKey(HealthCheck, on_delete=models.CASCADE, related_name="results")
    checked_at = models.DateTimeField(default=timezone.now, db_index=True)
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-checked_at", "-pk"]
        indexes = [models.Index(fields=["health_check", "-checked_at"])]

    def __str__(self) -> str:
        return f"{self.health_check} at {self.checked_at:%H:%M:%S}: {'ok' if self.ok else self.error}"
