"""History: 90 days of tiers for one container with synthetic time, then the 90-day chart with N containers'
history in the table. No Docker: the rows are made up, the functions that keep and read them are the app's.

The simulation runs from 90 days ago to now, 12 hours at a time: the step's finest-tier rows are inserted as
`history.accumulate` would have flushed them (one per 6 s bucket, 1 or 2 samples of a 5 s interval, average and
maximum of a daily CPU wave, memory, network, disk and pids), then `history.rollup` and `history.purge` run with
the step's end as their "now". Beat runs rollup every minute; a longer step gives the same rows, since each run
rolls up every closed bucket since the last one, and purge keeps what the next tier still needs. The last hour
goes through `history.accumulate` itself, a sweep every 5 s (its open bucket in Redis, one insert per bucket),
with rollup and purge every minute. With --quick, only the last 7 days start from the finest tier; before that,
the second tier's rows are inserted as rollup would leave them (a twenty-fifth of the inserts; the same rows
from the second tier up).

Then the container's history is copied to N-1 more containers (one INSERT ... SELECT), so the table holds
what N containers leave after 90 days, and the chart is read: `history.chart_points` from the tier
`tier_covering` picks for 90 days, and the JSON endpoint `GET /metrics/containers/<pk>/?range=90d` through
Django's whole stack (django.test.Client, signed in), target median < 100 ms. Other ranges for comparison,
and the minutely rollup + purge job on the full table.
"""

from __future__ import annotations

import cProfile
import io
import math
import pstats
import random
import time
from datetime import timedelta

from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.containers.models import Container
from apps.hosts.models import Host
from apps.metrics import history, store
from apps.metrics.models import MetricPoint, MetricsSettings, RollupMark
from apps.metrics.tiers import METRICS, RANGES, TIERS, Tier, tier_covering
from bench.pages import _admin

DAY = 86400
INTERVAL = 5  # seconds between sweeps, the default
FINEST = TIERS[0]
CHART_TARGET_MS = 100
HOST_NAME = "metrics-history"
MIN_POINTS = 500  # a 90-day chart from tier 4: 540 buckets
OTHER_RANGES = ("1h", "24h", "7d", "30d")


def _columns() -> list[str]:
    return [f.column for f in MetricPoint._meta.concrete_fields if not f.primary_key]


def _figures(rng: random.Random, at: float) -> dict[str, float | None]:
    """One sweep's made-up figures: a daily CPU wave with noise, memory drifting over a week, some traffic."""
    cpu = max(0.0, 20 + 15 * math.sin(2 * math.pi * at / DAY) + rng.gauss(0, 3))
    mem = 48e6 + 8e6 * math.sin(2 * math.pi * at / (7 * DAY)) + rng.uniform(0, 2e6)
    return {"cpu": cpu, "mem": mem, "memp": mem / 256e6 * 100, "rx": rng.uniform(0, 5e4), "tx": rng.uniform(0, 2e4),
            "rd": rng.uniform(0, 1e4), "wr": rng.uniform(0, 3e4), "pids": float(rng.randint(2, 12)),
            "load": None, "disk": None}  # fmt: skip


def _rows(tier: Tier, rng: random.Random, host_pk: int, container_pk: int, first_sweep: int, start: int, end: int):
    """Rows of `tier` for [start, end) as accumulate (finest tier) or rollup (the next) leave them: one per
    bucket holding the sweeps (every 5 s since `first_sweep`) that fell in it, their average and their maximum
    (one draw of the figures for the average, the maximum above it: cheaper than drawing every sweep, and the
    same shape of row)."""
    step = tier.bucket_seconds
    for bucket in range(start, end, step):
        first = -(-(bucket - first_sweep) // INTERVAL)  # the first sweep at or after the bucket's start
        samples = -(-(bucket + step - first_sweep) // INTERVAL) - first
        if samples <= 0:
            continue
        figures = _figures(rng, bucket)
        peak = 1.0 + 0.3 * (1 - 1 / samples)
        row: list = [tier.index, host_pk, container_pk, bucket, samples]
        for name in METRICS:
            value = figures[name]
            row += [None, None] if value is None else [value, value * peak]
        yield row


def simulate(host: Host, container: Container, start: int, end: int, step_seconds: int, finest_from: int) -> dict:
    """90 days of accumulate -> rollup -> purge for one container; seconds spent in each part. Before
    `finest_from` (--quick), the second tier's rows are inserted as rollup would leave them, instead of the
    finest tier's: the same rows from the second tier up, at a twenty-fifth of the inserts."""
    rng = random.Random(5)  # noqa: S311 - made-up data, reproducible
    table = MetricPoint._meta.db_table
    columns = _columns()
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
    spent = {"insert": 0.0, "rollup": 0.0, "purge": 0.0, "accumulate": 0.0, "steps": 0, "inserted": 0,
             "inserted_second_tier": 0}  # fmt: skip
    accumulate_from = end - 3600  # the last hour through accumulate itself
    moment = start
    while moment < accumulate_from:
        upto = min(moment + step_seconds, accumulate_from, finest_from if moment < finest_from else end)
        tier = TIERS[1] if moment < finest_from else FINEST
        began = time.perf_counter()
        rows = list(_rows(tier, rng, host.pk, container.pk, start, moment, upto))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(insert, rows)
        spent["inserted" if tier is FINEST else "inserted_second_tier"] += len(rows)
        spent["insert"] += time.perf_counter() - began
        _rollup_and_purge(upto, spent)
        spent["steps"] += 1
        moment = upto
    store.forget(host.pk)
    per_call = []
    first_sweep = start + -(-(accumulate_from - start) // INTERVAL) * INTERVAL
    for at in range(first_sweep, end + FINEST.bucket_seconds, INTERVAL):  # one sweep past the end flushes the last
        values = {store.series_key(container.pk): {k: v for k, v in _figures(rng, at).items() if v is not None}}
        began = time.perf_counter()
        history.accumulate(host.pk, values, at, keep=True)
        per_call.append(time.perf_counter() - began)
        if at % 60 < INTERVAL:
            _rollup_and_purge(at, spent)
    spent["accumulate"] = sum(per_call)
    spent["accumulate_calls"] = per_call
    _rollup_and_purge(end, spent)
    store.forget(host.pk)
    return spent


def _rollup_and_purge(now: float, spent: dict) -> None:
    began = time.perf_counter()
    history.rollup(now=now)
    spent["rollup"] += time.perf_counter() - began
    began = time.perf_counter()
    history.purge(now=now)
    spent["purge"] += time.perf_counter() - began


def rows_per_tier(container: Container) -> dict[int, int]:
    found = {t.index: 0 for t in TIERS}
    for entry in history.rows_per_series():
        if entry["container_id"] == container.pk:
            found[entry["tier"]] = entry["rows"]
    return found


def tier_bound(index: int, retention_days: int) -> int:
    """Rows a tier may hold for one series: its window plus the two coarse buckets purge keeps for the next
    tier's rollup (the last tier: the retention)."""
    tier = TIERS[index]
    if index == len(TIERS) - 1:
        return retention_days * DAY // tier.bucket_seconds + 1
    return (tier.window_seconds + 2 * TIERS[index + 1].bucket_seconds) // tier.bucket_seconds + 1


def copy_history(source: Container, host: Host) -> int:
    """Give every other container of the host the source's rows (one INSERT ... SELECT in the database)."""
    table = MetricPoint._meta.db_table
    columns = _columns()
    chosen = [("c.id" if col == "container_id" else f"m.{col}") for col in columns]
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(chosen)} FROM {table} m, "  # noqa: S608
           f"{Container._meta.db_table} c WHERE m.container_id = %s AND c.host_id = %s AND c.id <> %s")  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [source.pk, host.pk, source.pk])
        return cursor.rowcount


def _timed(call, runs: int, warm_up: int = 3) -> tuple[list[float], list[float], object]:
    for _ in range(warm_up):
        result = call()
    wall, cpu = [], []
    for _ in range(runs):
        start, used = time.perf_counter(), time.thread_time()
        result = call()
        wall.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - used)
    return wall, cpu, result


def _get_json(client: Client, url: str) -> dict:
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
    return response.json()


def run(sizes, *, profile: bool = False) -> list[dict]:
    return measure(prepare(sizes), sizes, profile=profile)


def prepare(sizes) -> dict:
    """The simulation and the copies (the long part, which needs no Docker: the fleet is created meanwhile)."""
    containers, step_hours = sizes.history_containers, sizes.history_step_hours
    MetricPoint.objects.all().delete()  # this run's database: whatever the sweeps before left
    RollupMark.objects.all().delete()
    Host.objects.filter(name=HOST_NAME).delete()
    host = Host.objects.create(name=HOST_NAME, kind=Host.Kind.SOCKET, url="unix:///nonexistent/docker.sock")
    rows = [Container(host=host, name=f"history-{i}", docker_id=f"{i:064x}", state=Container.State.RUNNING)
            for i in range(containers)]  # fmt: skip
    Container.objects.bulk_create(rows, batch_size=500)
    subject = Container.objects.get(host=host, name="history-0")
    end = FINEST.bucket_of(time.time())
    start = TIERS[1].bucket_of(end - 90 * DAY)  # whole buckets of the second tier, from 90 days ago
    finest_from = max(start, TIERS[-1].bucket_of(end - sizes.history_finest_days * DAY))
    print(f"bench: metrics: history: simulating 90 days for one container (rollup and purge every {step_hours} h "
          f"of synthetic time; finest tier for the last {sizes.history_finest_days} days) ...", flush=True)  # fmt: skip
    began = time.perf_counter()
    spent = simulate(host, subject, start, end, step_hours * 3600, finest_from)
    simulated = time.perf_counter() - began
    kept = rows_per_tier(subject)
    retention = MetricsSettings.load().retention_days
    bounds = {index: tier_bound(index, retention) for index in kept}
    within = all(kept[i] <= bounds[i] for i in kept)
    print(f"bench: metrics: history: simulated in {simulated:.0f} s ({spent['inserted']:,} finest rows inserted, "
          f"{spent['inserted_second_tier']:,} second-tier); copying to "
          f"{containers - 1} more containers ...", flush=True)  # fmt: skip
    began = time.perf_counter()
    copied = copy_history(subject, host)
    copy_seconds = time.perf_counter() - began
    return {"host": host, "subject": subject, "end": end, "spent": spent, "simulated": simulated, "kept": kept,
            "bounds": bounds, "within": within, "retention": retention, "copied": copied,
            "copy_seconds": copy_seconds, "table_rows": MetricPoint.objects.count()}  # fmt: skip


def measure(state: dict, sizes, *, profile: bool = False) -> list[dict]:
    """The chart read back (and the rollup job) on what `prepare` left."""
    host, subject, end, spent = state["host"], state["subject"], state["end"], state["spent"]
    containers, step_hours, requests = sizes.history_containers, sizes.history_step_hours, sizes.history_requests
    kept, bounds, within, retention = state["kept"], state["bounds"], state["within"], state["retention"]
    simulated, table_rows = state["simulated"], state["table_rows"]
    tier = tier_covering(RANGES["90d"].total_seconds())
    now = time.time()
    wall, cpu, points = _timed(lambda: history.chart_points(host.pk, subject.pk, now - 90 * DAY, now, tier), requests)
    client = Client(HTTP_HOST="localhost")
    client.force_login(_admin())
    url = f"/metrics/containers/{subject.pk}/?range=90d"
    http_wall, http_cpu, body = _timed(lambda: _get_json(client, url), requests)
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    queries = [q["sql"] for q in captured.captured_queries]
    if len(points["columns"]["t"]) < MIN_POINTS or body["tier"] != tier.index or len(body["columns"]["t"]) < MIN_POINTS:
        raise RuntimeError(f"the 90-day chart has {len(points['columns']['t'])} points (tier {body['tier']})")
    others = {}
    for key in OTHER_RANGES:
        others[key] = _timed(lambda k=key: _get_json(client, f"/metrics/containers/{subject.pk}/?range={k}"),
                             max(5, requests // 2))  # fmt: skip
    ticks = []
    for minute in range(1, 4):  # beat's rollup job, one tick a minute, over the full table
        began = time.perf_counter()
        history.rollup(now=end + minute * 60)
        history.purge(now=end + minute * 60)
        ticks.append(time.perf_counter() - began)
    if profile:
        print(_profile(client, url))
    accumulate_calls = spent.pop("accumulate_calls")
    results: list[dict] = [
        {"section": f"History: 90 days of one container, simulated (rollup + purge every {step_hours} h of synthetic "
         f"time; the last hour through accumulate), then {containers} containers' worth in the table"},
        {"key": "metrics.history.rows", "label": f"rows kept for the container, all tiers (within each tier's bound: "
         f"{'OK' if within else 'MISSED'})", "value": sum(kept.values()), "unit": "rows", "per_tier": kept,
         "bounds": bounds, "meets_target": within},
        *({"key": f"metrics.history.rows.{i}", "label": f"  tier {i}: {TIERS[i].bucket_seconds} s buckets over "
           f"{_span(TIERS[i].window if i < len(TIERS) - 1 else timedelta(days=retention))} (bound {bounds[i]})",
           "value": n, "unit": "rows"} for i, n in kept.items()),
        {"key": "metrics.history.table", "label": f"  rows in the table: {containers} containers' history",
         "value": table_rows, "unit": "rows", "copied": state["copied"], "copy_s": round(state["copy_seconds"], 1)},
        {"key": "metrics.history.accumulate", "label": "accumulate(): one sweep of one series (the last hour)",
         "samples": accumulate_calls},
        {"key": "metrics.history.simulation", "label": f"  (simulation: {spent['steps']} steps, "
         f"{spent['inserted'] + spent['inserted_second_tier']:,} rows inserted; {simulated:.0f} s, of which rollup "
         f"{spent['rollup']:.0f} s, purge {spent['purge']:.0f} s)", "value": round(simulated, 1), "unit": "s",
         **{k: round(v, 2) if isinstance(v, float) else v for k, v in spent.items()}},
        {"key": "metrics.history.chart_points", "label": f"history.chart_points(), 90 days from tier {tier.index} "
         f"({len(points['columns']['t'])} points)", "samples": wall, "cpu_samples": cpu,
         "target_ms": CHART_TARGET_MS, "target_on": "median"},
        {"key": "metrics.history.http", "label": "GET /metrics/containers/<pk>/?range=90d (JSON, Django's stack)",
         "samples": http_wall, "cpu_samples": http_cpu, "target_ms": CHART_TARGET_MS, "target_on": "median",
         "bytes": len(client.get(url).content)},
        {"key": "metrics.history.http.queries", "label": "  SQL queries of that request", "value": len(queries),
         "unit": "queries", "sql": queries},
        *({"key": f"metrics.history.http.{key}", "label": f"  the same, range={key} (tier {body_of[2]['tier']}, "
           f"{len(body_of[2]['columns']['t'])} points)", "samples": body_of[0], "cpu_samples": body_of[1]}
          for key, body_of in others.items()),
        {"key": "metrics.history.tick", "label": f"rollup() + purge(), one minute's tick, {containers} containers' "
         "history", "samples": ticks},
    ]  # fmt: skip
    return results


def _span(window: timedelta) -> str:
    return f"{window.days} d" if window.days else f"{window.seconds // 3600} h"


def _profile(client: Client, url: str, repeat: int = 10) -> str:
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [client.get(url) for _ in range(repeat)])
    out = io.StringIO()
    out.write(f"=== cProfile: {repeat} x GET {url}, by cumulative time ===\n")
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative").print_stats(25)
    return out.getvalue()
