"""History: the open bucket accumulated across sweeps, flushed to the finest tier in one insert per host,
rolled up into coarser tiers, trimmed by retention, and read back for charts."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, F, Max, Q, Sum

from apps.containers.models import Container
from apps.metrics import store
from apps.metrics.models import MetricPoint, MetricsSettings, RollupMark
from apps.metrics.tiers import METRICS, TIERS, Tier

FINEST = TIERS[0]
# --- the open bucket -------------------------------------------------------------------------------------


def accumulate(host_pk: int, values: dict[str, dict[str, float | None]], now: float, *, keep: bool) -> int:
    """Add one sweep's values ({series: {metric: value}}) to the host's open bucket of the finest tier.

    When the sweep falls into a new bucket, the previous one is written to the database first, in one
    insert for the whole host. Returns the number of rows written. With history off (`keep` false) the
    bucket is only tracked, never written.
    """
    bucket_start = FINEST.bucket_of(now)
    bucket = store.open_bucket(host_pk)
    written = 0
    if bucket is not None and bucket_start < bucket["start"]:
        # The clock went back: stay in the open bucket rather than write buckets already written again.
        bucket_start = bucket["start"]
    if bucket is not None and bucket["start"] != bucket_start:
        if keep:
            written = _write_bucket(host_pk, bucket)
        bucket = None
    if bucket is None:
        bucket = {"start": bucket_start, "series": {}}
    for key, metrics in values.items():
        entry = bucket["series"].setdefault(key, {"n": 0, "sum": {}, "cnt": {}, "max": {}})
        entry["n"] += 1
        for name, value in metrics.items():
            if value is None:
                continue
            entry["sum"][name] = entry["sum"].get(name, 0.0) + value
            entry["cnt"][name] = entry["cnt"].get(name, 0) + 1
            entry["max"][name] = max(entry["max"].get(name, value), value)
    store.save_open_bucket(host_pk, bucket)
    return written


def _write_bucket(host_pk: int, bucket: dict) -> int:
    known = set(Container.objects.filter(host_id=host_pk).values_list("pk", flat=True))
    rows = []
    for key, entry in bucket["series"].items():
        container_pk = store.container_of(key)
        if container_pk is not None and container_pk not in known:
            continue  # deleted from DockMon meanwhile
        fields = {}
        for name in METRICS:
            count = entry["cnt"].get(name)
            fields[f"{name}_avg"] = entry["sum"][name] / count if count else None
            fields[f"{name}_max"] = entry["max"].get(name)
        rows.append(MetricPoint(tier=FINEST.index, host_id=host_pk, container_id=container_pk,
                                bucket=bucket["start"], samples=entry["n"], **fields))  # fmt: skip
    MetricPoint.objects.bulk_create(rows)
    return len(rows)


# --- rollups and retention ---------------------------------------------------------------------------------


def rollup(now: float | None = None) -> dict[int, int]:
    """Fill every coarser tier with the closed buckets of the tier below; returns rows written per tier."""
    now = time.time() if now is None else now
    written = {}
    for finer, coarser in itertools.pairwise(TIERS):
        written[coarser.index] = _rollup_tier(finer, coarser, now)
    return written


def _rollup_tier(finer: Tier, coarser: Tier, now: float) -> int:
    # A coarse bucket is rolled up once it is over and its last fine bucket has been written (one sweep later).
    closed_until = coarser.bucket_of(now - finer.bucket_seconds * 2)
    with transaction.atomic():
        mark, _ = RollupMark.objects.select_for_update().get_or_create(tier=coarser.index)
        start = max(mark.done_until, coarser.bucket_of(now - coarser.window_seconds))
        if start >= closed_until:
            return 0
        size = coarser.bucket_seconds
        aggregates = {"n": Sum("samples")}
        for name in METRICS:
            present = Q(**{f"{name}_avg__isnull": False})
            aggregates[f"{name}_weighted"] = Sum(F(f"{name}_avg") * F("samples"), filter=present)
            aggregates[f"{name}_count"] = Sum("samples", filter=present)
            aggregates[f"{name}_max"] = Max(f"{name}_max")
        groups = (
            MetricPoint.objects.filter(tier=finer.index, bucket__gte=start, bucket__lt=closed_until)
            .annotate(coarse=F("bucket") / size * size)
            .values("host_id", "container_id", "coarse")
            .annotate(**aggregates)
            .order_by()
        )
        rows = []
        for group in groups:
            fields = {}
            for name in METRICS:
                count = group[f"{name}_count"]
                fields[f"{name}_avg"] = group[f"{name}_weighted"] / count if count else None
                fields[f"{name}_max"] = group[f"{name}_max"]
            rows.append(MetricPoint(tier=coarser.index, host_id=group["host_id"], container_id=group["container_id"],
                                    bucket=group["coarse"], samples=group["n"], **fields))  # fmt: skip
        MetricPoint.objects.bulk_create(rows, batch_size=500)
        mark.done_until = closed_until
        mark.save(update_fields=["done_until"])
    return len(rows)


def purge(now: float | None = None) -> int:
    """Delete what each tier no longer needs; the last tier keeps the retention period. A removed container's
    history thereby goes once it is older than the retention, like everyone's."""
    now = time.time() if now is None else now
    retention = timedelta(days=MetricsSettings.load().retention_days)
    deleted = 0
    for finer, coarser in zip(TIERS, [*TIERS[1:], None], strict=True):
        keep_seconds = finer.window_seconds if coarser is not None else retention.total_seconds()
        # Kept a coarse bucket longer than its window, so the next tier can still roll it up.
        margin = coarser.bucket_seconds * 2 if coarser is not None else 0
        cutoff = int(now - keep_seconds - margin)
        deleted += MetricPoint.objects.filter(tier=finer.index, bucket__lt=cutoff).delete()[0]
    return deleted


def rows_per_series() -> Iterable[dict]:
    """For the bench and the admin: how many rows each series holds, per tier."""
    return MetricPoint.objects.values("host_id", "container_id", "tier").annotate(rows=Count("pk")).order_by()


# --- reading back ---------------------------------------------------------------------------------------------


def chart_points(host_pk: int, container_pk: int | None, start: float, end: float, tier: Tier) -> dict:
    """The series between `start` and `end` from `tier`, as columns; missing data are None (gaps)."""
    # Buckets finer than the collection interval are not all filled: only a longer silence is a gap.
    expected_spacing = max(tier.bucket_seconds, MetricsSettings.load().interval_seconds)
    rows = list(
        MetricPoint.objects.filter(
            host_id=host_pk,
            container_id=container_pk,
            tier=tier.index,
            bucket__gte=tier.bucket_of(start),
            bucket__lte=end,
        )
        .order_by("bucket")
        .values("bucket", *(f"{name}_{kind}" for name in METRICS for kind in ("avg", "max")))
    )
    return _with_gaps(rows, tier, start, end, expected_spacing)


def _with_gaps(rows: list[dict], tier: Tier, start: float, end: float, expected_spacing: int) -> dict:
    columns: dict[str, list] = {"t": []}
    for name in METRICS:
        columns[name] = []
        columns[f"{name}_max"] = []
    step = tier.bucket_seconds
    previous = None
    for row in rows:
        # Twice the expected spacing without data: a gap, charted as a break in the line, not a slope.
        if previous is not None and row["bucket"] - previous > 2 * expected_spacing:
            columns["t"].append(previous + step)
            for name in METRICS:
                columns[name].append(None)
                columns[f"{name}_max"].append(None)
        columns["t"].append(row["bucket"])
        for name in METRICS:
            columns[name].append(row[f"{name}_avg"])
            columns[f"{name}_max"].append(row[f"{name}_max"])
        previous = row["bucket"]
    return {"tier": tier.index, "step": step, "from": int(start), "to": int(end), "columns": columns}
