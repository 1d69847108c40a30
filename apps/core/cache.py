"""A Redis cache that keeps pages working while Redis is down.

The cache only holds things DockMon can lose (rate-limit counters, cached
fragments), so an outage degrades to "no cache" and is logged, instead of turning
every page into an error. /healthz still reports Redis as failing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
WARN_EVERY_SECONDS = 60
_last_warning = 0.0


def _tolerant(fallback: Callable[..., Any]) -> Callable:
    def decorate(method: Callable) -> Callable:
        @wraps(method)
        def wrapper(self: RedisCacheClient, *args: Any, **kwargs: Any) -> Any:
            global _last_warning
            try:
                return method(self, *args, **kwargs)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                if time.monotonic() - _last_warning > WARN_EVERY_SECONDS:
                    _last_warning = time.monotonic()
                    logger.warning("Redis cache unavailable, continuing without it: %s", exc)
                return fallback(*args, **kwargs)

        return wrapper

    return decorate


class TolerantRedisCacheClient(RedisCacheClient):
    # `add` answers True so rate-limit locks do not stall for their full wait time.
    add = _tolerant(lambda *a, **k: True)(RedisCacheClient.add)
    get = _tolerant(lambda key, default: default)(RedisCacheClient.get)
    set = _tolerant(lambda *a, **k: None)(RedisCacheClient.set)
    touch = _tolerant(lambda *a, **k: False)(RedisCacheClient.touch)
    delete = _tolerant(lambda *a, **k: False)(RedisCacheClient.delete)
    get_many = _tolerant(lambda *a, **k: {})(RedisCacheClient.get_many)
    has_key = _tolerant(lambda *a, **k: False)(RedisCacheClient.has_key)
    incr = _tolerant(lambda key, delta: delta)(RedisCacheClient.incr)
    set_many = _tolerant(lambda *a, **k: [])(RedisCacheClient.set_many)
    delete_many = _tolerant(lambda *a, **k: None)(RedisCacheClient.delete_many)
    clear = _tolerant(lambda *a, **k: False)(RedisCacheClient.clear)


class TolerantRedisCache(RedisCache):
    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = TolerantRedisCacheClient
