"""Checks behind /healthz: the database, Redis, a Celery worker and Celery beat."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import redis
from django.conf import settings
from django.db import DatabaseError, connection

from apps.core.beat import beat_tick_key
from dockmon.celery import app as celery_app

TIMEOUT_SECONDS = 1.5


@dataclass
class Check:
    ok: bool
    detail: str


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return Check(False, f"database error: {exc}")
    return Check(True, connection.vendor)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
    )


def check_redis() -> Check:
    try:
        _redis().ping()
    except redis.RedisError as exc:
        return Check(False, f"no answer at REDIS_URL: {exc}")
    return Check(True, "ping ok")


def check_worker() -> Check:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=TIMEOUT_SECONDS)
            # limit=1: stop waiting at the first answer, so a healthy /healthz stays fast.
            replies = celery_app.control.ping(timeout=TIMEOUT_SECONDS, connection=conn, limit=1)
    except Exception as exc:  # noqa: BLE001 - kombu raises many kinds; all mean "cannot tell"
        return Check(False, f"cannot reach the broker: {exc}")
    if not replies:
        return Check(False, "no Celery worker answered a ping")
    return Check(True, f"{next(iter(replies[0]))} answered")


def check_beat() -> Check:
    try:
        raw = _redis().get(beat_tick_key())
    except redis.RedisError as exc:
        return Check(False, f"cannot read the beat heartbeat: {exc}")
    if raw is None:
        return Check(False, "Celery beat has not ticked yet")
    age = time.time() - float(raw)
    limit = settings.HEALTH_BEAT_MAX_AGE.total_seconds()
    if age > limit:
        return Check(False, f"last beat tick {age:.0f} s ago (limit {limit:.0f} s)")
    return Check(True, f"last tick {age:.0f} s ago")


CHECKS = {
    "database": check_database,
    "redis": check_redis,
    "worker": check_worker,
    "beat": check_beat,
}


def run_checks() -> dict[str, dict]:
    return {name: asdict(check()) for name, check in CHECKS.items()}
