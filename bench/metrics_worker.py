"""DockMon's Celery app with each sweep timed, for the scale bench: `celery -A bench.metrics_worker worker ...`.

The same app, tasks and pools as `celery -A dockmon worker` (the Procfile's worker); the only addition is a
wrapper around `apps.metrics.collector.sweep_host` (what the `metrics.sweep_host` task calls), installed in
every prefork pool process after it starts, and in the main process once the worker is ready (a threads pool
runs the tasks there). For each sweep it appends to a Redis list under the run's prefix: the host, the process,
start and end (CLOCK_MONOTONIC, the bench's clock too), the process's CPU time over the sweep (all its threads:
with a threads pool, also the other sweeps running meanwhile), and the SweepResult (None: another worker held
the host's lock, so it was skipped). `worker_ready` sets a key when the worker takes tasks.
"""

from __future__ import annotations

import json
import os
import time
from functools import cache

import redis
from celery.signals import worker_process_init, worker_ready

from dockmon.celery import app

__all__ = ["app"]


def sweeps_key() -> str:
    from django.conf import settings

    return f"{settings.REDIS_PREFIX}:bench:sweeps"


def ready_key() -> str:
    from django.conf import settings

    return f"{settings.REDIS_PREFIX}:bench:worker-ready"


@cache
def _redis() -> redis.Redis:  # one per process (first used after the fork)
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10, socket_connect_timeout=5)


@worker_process_init.connect
def _time_sweeps(**kwargs) -> None:
    from apps.metrics import collector

    original = collector.sweep_host
    if getattr(original, "bench_timed", False):
        return

    def timed(host):
        start, cpu = time.monotonic(), time.process_time()
        result = original(host)
        entry = {
            "host": host.pk,
            "pid": os.getpid(),
            "start": start,
            "end": time.monotonic(),
            "cpu": time.process_time() - cpu,
            "skipped": result is None,
            "containers": result.containers if result else 0,
            "seconds": result.seconds if result else None,
            "rows": result.rows_written if result else 0,
        }
        _redis().rpush(sweeps_key(), json.dumps(entry))
        return result

    timed.bench_timed = True
    collector.sweep_host = timed


@worker_ready.connect
def _ready(**kwargs) -> None:
    _time_sweeps()
    _redis().set(ready_key(), os.getpid(), ex=3600)
