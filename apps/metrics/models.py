from __future__ import annotations

from django.db import models

from apps.containers.models import Container
from apps.core.models import SingleRow
from apps.hosts.models import Host


class MetricPoint(models.Model):
    """One bucket of one series in one history tier: the average and the maximum of what was sampled in it.

    A series is a container (`container` set) or a host's own figures (`container` empty). Tiers are
    described in tiers.py; `bucket` is the bucket's start in seconds since the epoch, so rolling up is
    integer arithmetic in SQL on every database.
    """

    tier = models.PositiveSmallIntegerField()
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="+")
    container = models.ForeignKey(Container, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    bucket = models.BigIntegerField()
    samples = models.PositiveIntegerField(default=1)

    cpu_avg = models.FloatField(null=True)  # percent of one CPU (containers, like docker stats) or of the host
    cpu_max = models.FloatField(null=True)
    mem_avg = models.FloatField(null=True)  # bytes in use
    mem_max = models.FloatField(null=True)
    memp_avg = models.FloatField(null=True)  # percent of the limit (containers) or of the host's memory
    memp_max = models.FloatField(null=True)
    rx_avg = models.FloatField(null=True)  # network bytes per second
    rx_max = models.FloatField(null=True)
    tx_avg = models.FloatField(null=True)
    tx_max = models.FloatField(null=True)
    rd_avg = models.FloatField(null=True)  # block I/O bytes per second
    rd_max = models.FloatField(null=True)
    wr_avg = models.FloatField(null=True)
    wr_max = models.FloatField(null=True)
    pids_avg = models.FloatField(null=True)
    pids_max = models.FloatField(null=True)
    load_avg = models.FloatField(null=True)  # hosts: 1-minute load
    load_max = models.FloatField(null=True)
    disk_avg = models.FloatField(null=True)  # hosts: the fullest filesystem, percent used
    disk_max = models.FloatField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["host", "container", "tier", "bucket"], name="metric_series_idx"),
            models.Index(fields=["tier", "bucket"], name="metric_tier_bucket_idx"),
        ]

    def __str__(self) -> str:
        return f"tier {self.tier} @ {self.bucket} for {self.container_id or f'host {self.host_id}'}"


class RollupMark(models.Model):
    """How far each coarser tier has been rolled up from the one below (bucket start, exclusive)."""

    tier = models.PositiveSmallIntegerField(primary_key=True)
    done_until = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"tier {self.tier} rolled up until {self.done_until}"


class MetricsSettings(SingleRow):
    """How often metrics are collected and how long their history is kept; one row."""

    interval_seconds = models.PositiveIntegerField(
        default=5, help_text="How often every running container is read (2 seconds to 10 minutes)."
    )
    history_enabled = models.BooleanField(default=True, help_text="Keep history for the charts.")
    retention_days = models.PositiveIntegerField(
        default=90, help_text="History older than this is deleted (1 to 365 days; charts reach back 90 days)."
    )

    class Meta:
        verbose_name = "metrics settings"
        verbose_name_plural = "metrics settings"

    def __str__(self) -> str:
        return "metrics settings"
