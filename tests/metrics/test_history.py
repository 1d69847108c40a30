"""History tiers, rollups and retention, with synthetic time."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.containers.models import Container
from apps.hosts.models import Host
from apps.metrics import history, store
from apps.metrics.models import MetricPoint, MetricsSettings
from apps.metrics.tiers import TIERS, tier_covering

pytestmark = pytest.mark.django_db

T0 = 1_800_000_000  # a round moment, far from any real data


@pytest.fixture
def host(db) -> Host:
    return Host.objects.create(name="h", kind="socket", url="unix:///x.sock", status="online")


@pytest.fixture
def container(host) -> Container:
    return Container.objects.create(host=host, name="web", docker_id="a" * 64, state="running")


def sweep(host, container, at: float, cpu: float | None, mem: float = 100.0) -> int:
    values = {store.series_key(container.pk): {"cpu": cpu, "mem": mem}, store.HOST_SERIES: {"cpu": cpu}}
    return history.accumulate(host.pk, values, at, keep=True)


def test_every_tier_holds_about_600_buckets_over_its_window():
    for tier in TIERS:
        assert 500 <= tier.window_seconds / tier.bucket_seconds <= 600
    assert tier_covering(300).index == 0 and tier_covering(3600).index == 0
    assert tier_covering(6 * 3600).index == 1 and tier_covering(7 * 86400).index == 2
    assert tier_covering(30 * 86400).index == 3 and tier_covering(90 * 86400).index == 4


def test_samples_in_one_bucket_give_one_row_with_average_and_maximum(host, container):
    assert sweep(host, container, T0 + 0, 10) == 0
    assert sweep(host, container, T0 + 2, 30) == 0
    assert sweep(host, container, T0 + 4, None) == 0  # a missing figure is not a zero
    assert sweep(host, container, T0 + 6, 50) == 2  # the next bucket: the first one is written
    row = MetricPoint.objects.get(container=container, tier=0)
    assert (row.bucket, row.samples, row.cpu_avg, row.cpu_max, row.mem_avg) == (T0, 3, 20.0, 30.0, 100.0)
    assert MetricPoint.objects.filter(container=None, host=host, tier=0).count() == 1


def test_a_clock_jump_charts_nothing_twice(host, container):
    sweep(host, container, T0, 10)
    assert sweep(host, container, T0 + 6, 20) == 2  # bucket T0 written
    assert sweep(host, container, T0 - 600, 30) == 0  # the clock went back ten minutes
    assert sweep(host, container, T0 + 3600, 40) == 2  # ...and jumped an hour ahead: one bucket, then a gap
    buckets = list(MetricPoint.objects.filter(container=container).order_by("bucket").values_list("bucket", "cpu_avg"))
    assert buckets == [(T0, 10.0), (T0 + 6, 25.0)]


def test_history_off_keeps_nothing(host, container):
    history.accumulate(host.pk, {"c:1": {"cpu": 1.0}}, T0, keep=False)
    history.accumulate(host.pk, {"c:1": {"cpu": 1.0}}, T0 + 60, keep=False)
    assert not MetricPoint.objects.exists()


def fill_finest(host, container, start: int, seconds: int, cpu_of=lambda t: 10.0) -> None:
    MetricPoint.objects.bulk_create(
        MetricPoint(tier=0, host=host, container=container, bucket=t, samples=1, cpu_avg=cpu_of(t), cpu_max=cpu_of(t))
        for t in range(start, start + seconds, TIERS[0].bucket_seconds)
    )


def test_rollups_average_weighted_and_keep_the_maximum(host, container):
    fill_finest(host, container, T0, 600, cpu_of=lambda t: 100.0 if t == T0 + 60 else 10.0)
    history.rollup(now=T0 + 3600)
    first = MetricPoint.objects.filter(tier=1, container=container).order_by("bucket").first()
    assert first.bucket == T0 and first.samples == 25  # 150 s of 6 s buckets
    assert first.cpu_max == 100.0 and first.cpu_avg == pytest.approx((24 * 10 + 100) / 25)
    assert MetricPoint.objects.filter(tier=1, container=container).count() == 4  # 600 s of 150 s buckets


def test_rollups_run_once_per_bucket_and_cascade(host, container):
    fill_finest(host, container, T0, 4 * 3600)
    for minutes in range(0, 5 * 60, 10):  # beat every 10 minutes (synthetic)
        history.rollup(now=T0 + minutes * 60)
    tier1 = MetricPoint.objects.filter(tier=1, container=container)
    assert tier1.count() == len(set(tier1.values_list("bucket", flat=True)))  # never twice
    assert MetricPoint.objects.filter(tier=2, container=container).exists()
    assert MetricPoint.objects.get(tier=2, container=container, bucket=T0 - T0 % 1200).samples == 200


def test_storage_stays_bounded_over_a_simulated_90_days(host, container):
    """Each tier keeps its window; whatever the uptime, a series holds a few thousand rows at most."""
    day = 86400
    for tier in TIERS:
        # Three windows' worth of buckets (100 days for the last tier): more than any tier may keep.
        span = 100 * day if tier is TIERS[-1] else 3 * tier.window_seconds
        MetricPoint.objects.bulk_create(
            MetricPoint(tier=tier.index, host=host, container=container, bucket=b, samples=1, cpu_avg=1.0)
            for b in range(T0 - span, T0, tier.bucket_seconds)
        )
    history.purge(now=T0)
    per_tier = {t.index: MetricPoint.objects.filter(tier=t.index, container=container).count() for t in TIERS}
    assert sum(per_tier.values()) < 3500, per_tier
    for tier, coarser in itertools.pairwise(TIERS):
        # Its window, and two coarse buckets more so the next tier can still roll the oldest up.
        assert per_tier[tier.index] <= (tier.window_seconds + 2 * coarser.bucket_seconds) / tier.bucket_seconds + 1
    assert per_tier[4] <= 90 * day / TIERS[4].bucket_seconds + 1


def test_retention_is_a_setting_and_removed_containers_history_goes_after_it(host, container):
    settings_row = MetricsSettings.load()
    settings_row.retention_days = 7
    settings_row.save()
    gone = Container.objects.create(host=host, name="old", docker_id="b" * 64, state="removed",
                                    removed_at=timezone.now() - timedelta(days=8))  # fmt: skip
    for series in (container, gone):
        MetricPoint.objects.create(tier=4, host=host, container=series, bucket=T0 - 8 * 86400, cpu_avg=1.0)
        MetricPoint.objects.create(tier=4, host=host, container=series, bucket=T0 - 6 * 86400, cpu_avg=1.0)
    history.purge(now=T0)
    for series in (container, gone):
        kept = MetricPoint.objects.filter(tier=4, container=series).values_list("bucket", flat=True)
        assert list(kept) == [T0 - 6 * 86400]
    history.purge(now=T0 + 2 * 86400)
    assert not MetricPoint.objects.filter(container=gone).exists()
    # The inventory's record of the removed container (its tags, desired state, audit links) is not history.
    assert Container.objects.filter(pk=gone.pk).exists()


def test_charts_get_gaps_as_gaps(host, container):
    MetricPoint.objects.bulk_create(
        MetricPoint(tier=0, host=host, container=container, bucket=b, cpu_avg=5.0, cpu_max=6.0)
        for b in (T0, T0 + 6, T0 + 60, T0 + 66)
    )
    points = history.chart_points(host.pk, container.pk, T0, T0 + 100, TIERS[0])
    assert points["columns"]["t"] == [T0, T0 + 6, T0 + 12, T0 + 60, T0 + 66]
    assert points["columns"]["cpu"] == [5.0, 5.0, None, 5.0, 5.0]
    assert points["step"] == 6


def test_a_slow_interval_leaves_buckets_empty_without_breaking_the_line(host, container):
    settings = MetricsSettings.load()
    settings.interval_seconds = 15
    settings.save()
    MetricPoint.objects.bulk_create(
        MetricPoint(tier=0, host=host, container=container, bucket=b, cpu_avg=5.0, cpu_max=6.0)
        for b in (T0, T0 + 12, T0 + 30, T0 + 42, T0 + 120)
    )
    points = history.chart_points(host.pk, container.pk, T0, T0 + 150, TIERS[0])
    assert points["columns"]["t"] == [T0, T0 + 12, T0 + 30, T0 + 42, T0 + 48, T0 + 120]
    assert points["columns"]["cpu"] == [5.0, 5.0, 5.0, 5.0, None, 5.0]
