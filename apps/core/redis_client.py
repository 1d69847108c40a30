"""The process's one Redis client for short commands (locks, latest values, group sizes).

Connections are pooled and redis-py notices a fork, so every Celery child and web process shares this safely.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache

import redis
from django.conf import settings


@cache
def shared_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)


@contextmanager
def held_alone(name: str, seconds: float) -> Iterator[bool]:
    """Take the lock `name` if nobody holds it, for at most `seconds`; yields whether it was taken.

    For work one process at a time must do (one host's poll, one host's sweep): whoever finds the lock taken
    skips the work instead of waiting, and a holder that dies frees it after `seconds`.
    """
    lock = shared_redis().lock(f"{settings.REDIS_PREFIX}:{name}", timeout=seconds, blocking=False)
    taken = lock.acquire()
    try:
        yield taken
    finally:
        if taken:
            with suppress(redis.exceptions.LockError):  # it expired meanwhile: nothing to release
                lock.release()
