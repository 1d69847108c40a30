from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.hosts.models import Host
from apps.tags.models import Tag


class Container(models.Model):
    """DockMon's record of a container, kept current from Docker's events and a periodic reconcile.

    Keyed by host and name, so what users attach to a container (tags, desired state, later
    policies and history) stays when the container is recreated with a new id.
    """

    class State(models.TextChoices):
        CREATED = "created", "Created"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        RESTARTING = "restarting", "Restarting"
        REMOVING = "removing", "Removing"
        EXITED = "exited", "Exited"
        DEAD = "dead", "Dead"
        REMOVED = "removed", "Removed"

    class Health(models.TextChoices):
        NONE = "", "No health check"
        STARTING = "starting", "Starting"
        HEALTHY = "healthy", "Healthy"
        UNHEALTHY = "unhealthy", "Unhealthy"

    class DesiredState(models.TextChoices):
        SHOULD_RUN = "should_run", "Should run"
        ON_DEMAND = "on_demand", "On demand"

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="containers")
    name = models.CharField(max_length=255)
    docker_id = models.CharField(max_length=64, db_index=True)
    image = models.CharField(max_length=255, blank=True)
    image_id = models.CharField(max_length=80, blank=True)
    command = models.JSONField(default=list, blank=True)
    entrypoint = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, db_index=True)
    status = models.CharField(max_length=255, blank=True, help_text="Docker's own words, e.g. “Up 3 minutes”.")
    health = models.CharField(max_length=10, choices=Health.choices, blank=True, default="")
    exit_code = models.IntegerField(null=True, blank=True)
    oom_killed = models.BooleanField(default=False)
    created = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    restart_policy = models.CharField(max_length=32, blank=True)
    restart_count = models.PositiveIntegerField(default=0)
    ports = models.JSONField(default=list, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    networks = models.JSONField(default=dict, blank=True)
    mounts = models.JSONField(default=list, blank=True)
    compose_project = models.CharField(max_length=255, blank=True, db_index=True)
    # Name, image and labels in one lower-case string, so search is one indexed-free LIKE on one column.
    search_text = models.TextField(blank=True)

    desired_state = models.CharField(max_length=12, choices=DesiredState.choices, default=DesiredState.SHOULD_RUN)
    # Stopped or killed through DockMon by a user, and not running since: alerts and auto-restart leave it be.
    stopped_by_user = models.BooleanField(default=False)
    tags = models.ManyToManyField(Tag, through="ContainerTag", related_name="containers", blank=True)

    first_seen = models.DateTimeField(default=timezone.now)
    state_changed_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["host", "name"], name="container_unique_name_per_host")]

    def __str__(self) -> str:
        return self.name

    @property
    def short_id(self) -> str:
        return self.docker_id[:12]

    @property
    def is_removed(self) -> bool:
        return self.state == self.State.REMOVED


class ContainerTag(models.Model):
    class Source(models.TextChoices):
        USER = "user", "Set by a user"
        LABEL = "label", "From a container label"

    container = models.ForeignKey(Container, on_delete=models.CASCADE)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.USER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["container", "tag"], name="container_tag_once")]

    def __str__(self) -> str:
        return f"{self.container} · {self.tag}"


class BulkJob(models.Model):
    """A background action on many containers, possibly across hosts."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Finished with errors"

    class Action(models.TextChoices):
        START = "start", "Start"
        STOP = "stop", "Stop"
        RESTART = "restart", "Restart"
        KILL = "kill", "Kill"
        REMOVE = "remove", "Remove"
        TAG_ADD = "tag_add", "Add tag"
        TAG_REMOVE = "tag_remove", "Remove tag"
        DESIRED_STATE = "desired_state", "Set desired state"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=32, choices=Action.choices)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} on {self.items.count()} containers"


class BulkJobItem(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Running"
        OK = "ok", "Done"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="items")
    container = models.ForeignKey(Container, null=True, on_delete=models.SET_NULL, related_name="+")
    container_name = models.CharField(max_length=255)
    host_name = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    message = models.CharField(max_length=500, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["host_name", "container_name"]

    def __str__(self) -> str:
        return f"{self.container_name}: {self.status}"
