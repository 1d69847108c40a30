"""Celery beat's scheduler: django-celery-beat's database scheduler (so operators edit
schedules in the admin) that also stamps every tick in Redis for /healthz."""

from __future__ import annotations

import logging
import time

import redis
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)


def beat_tick_key() -> str:
    return f"{settings.REDIS_PREFIX}:beat:last_tick"


class HeartbeatScheduler(DatabaseScheduler):
    _redis: redis.Redis | None = None

    def tick(self, *args, **kwargs) -> float:
        interval = super().tick(*args, **kwargs)
        try:
            if self._redis is None:
                self._redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
            self._redis.set(beat_tick_key(), time.time(), ex=24 * 3600)
        except redis.RedisError as exc:
            logger.warning("Could not record the beat heartbeat: %s", exc)
        return interval
