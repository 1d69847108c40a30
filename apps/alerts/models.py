from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.containers.models import Container
from apps.core.models import SingleRow
from apps.hosts.models import Host
from apps.notifications.models import Channel
from apps.tags.models import Tag


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"
    CRITICAL = "critical", "Critical"


class AlertRule(models.Model):
    """What matters, to whom it goes, and when to keep quiet."""

    class Kind(models.TextChoices):
        CONTAINER_STOPPED = "container_stopped", "Container stopped or died"
        CONTAINER_STARTED = "container_started", "Container started"
        RESTART_LOOP = "restart_loop", "Restart loop"
        OOM_KILLED = "oom_killed", "Killed for lack of memory (OOM)"
        UNHEALTHY = "unhealthy", "Unhealthy (Docker health check)"
        CHECK_FAILING = "check_failing", "HTTP health check failing"
        CONTAINER_CPU = "container_cpu", "Container CPU above"
        CONTAINER_MEMORY = "container_memory", "Container memory above (% of its limit)"
        HOST_CPU = "host_cpu", "Host CPU above"
        HOST_MEMORY = "host_memory", "Host memory above"
        HOST_OFFLINE = "host_offline", "Host offline"
        HOST_DISK = "host_disk", "Host disk usage above"
        RESTART_GAVE_UP = "restart_gave_up", "Auto-restart gave up"
        # Update and deployment events join here with their issues.

    class NameMatch(models.TextChoices):
        EXACT = "exact", "Exact name"
        GLOB = "glob", "Wildcards (web-*)"
        REGEX = "regex", "Regular expression"

    class DesiredStateFilter(models.TextChoices):
        ANY = "", "Any"
        SHOULD_RUN = "should_run", "Should run"
        ON_DEMAND = "on_demand", "On demand"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    description = models.CharField(max_length=500, blank=True)

    # Scope: every filter that is set must match; an empty filter matches everything.
    hosts = models.ManyToManyField(Host, blank=True, related_name="+")
    host_tags = models.ManyToManyField(Tag, blank=True, related_name="+")
    container_tags = models.ManyToManyField(Tag, blank=True, related_name="+")
    name_pattern = models.CharField(max_length=300, blank=True)
    name_match = models.CharField(max_length=8, choices=NameMatch.choices, default=NameMatch.GLOB)
    labels = models.TextField(blank=True, help_text="One per line: key=value, or key (any value). All must match.")
    exclude_names = models.TextField(blank=True, help_text="Container names left out, one per line (wildcards).")
    desired_state = models.CharField(max_length=12, choices=DesiredStateFilter.choices, blank=True, default="")

    # Conditions (which apply depends on the kind).
    threshold = models.FloatField(null=True, blank=True)
    clear_threshold = models.FloatField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(default=0)
    occurrences = models.PositiveIntegerField(null=True, blank=True)
    window_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Count stops made by users through DockMon, and exits of on-demand containers.
    include_intended_stops = models.BooleanField(default=False)

    # Notifications.
    channels = models.ManyToManyField(Channel, blank=True, related_name="rules")
    cooldown_seconds = models.PositiveIntegerField(default=300)
    notify_on_resolve = models.BooleanField(default=True)
    quiet_hours = models.TextField(blank=True, help_text="One window per line, e.g. “Mon-Fri 22:00-07:00”.")
    title_template = models.CharField(max_length=300, blank=True)
    body_template = models.TextField(blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def resolve_below(self) -> float | None:
        """Where a threshold alert resolves: the clear threshold, else a little below the threshold."""
        if self.clear_threshold is not None or self.threshold is None:
            return self.clear_threshold
        return default_clear_threshold(self.threshold)


CLEAR_MARGIN = 5.0


def default_clear_threshold(threshold: float) -> float:
    """Where an alert resolves when its rule names no clear threshold: a little below the threshold."""
    return threshold - CLEAR_MARGIN if threshold >= 2 * CLEAR_MARGIN else threshold / 2


class Alert(models.Model):
    """One firing of one rule for one target (a container, a host, a health check), until it is resolved.

    At most one unresolved alert per rule and target: repeats update it instead of piling up.
    """

    class State(models.TextChoices):
        FIRING = "firing", "Firing"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        SNOOZED = "snoozed", "Snoozed"
        RESOLVED = "resolved", "Resolved"

    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    rule_name = models.CharField(max_length=200)  # kept when the rule is deleted
    kind = models.CharField(max_length=24, choices=AlertRule.Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING, db_index=True)
    target_key = models.CharField(max_length=64)  # "container:12", "host:3", "check:5"
    container = models.ForeignKey(Container, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    host = models.ForeignKey(Host, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    target_name = models.CharField(max_length=255)
    host_name = models.CharField(max_length=255, blank=True)

    state = models.CharField(max_length=12, choices=State.choices, default=State.FIRING, db_index=True)
    title = models.CharField(max_length=300)
    message = models.TextField(blank=True)
    # What we knew when it fired: exit codes, log tail, top containers, memory limit, value and threshold.
    context = models.JSONField(default=dict, blank=True)
    value = models.FloatField(null=True, blank=True)

    fired_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_seen_at = models.DateTimeField(default=timezone.now)  # the condition was last observed
    occurrences = models.PositiveIntegerField(default=1)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    snoozed_until = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(max_length=200, blank=True)  # "condition cleared", "resolved by pat", ...
    last_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "target_key"], condition=~Q(state="resolved"), name="alert_open_once_per_rule_target"
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.state != self.State.RESOLVED


class AlertComment(models.Model):
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    author_name = models.CharField(max_length=150)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.author_name}: {self.text[:40]}"


class AlertSettings(SingleRow):
    retention_days = models.PositiveIntegerField(default=90, help_text="Resolved alerts older than this are deleted.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "alert settings"
        verbose_name_plural = "alert settings"

    def __str__(self) -> str:
        return "Alert settings"
