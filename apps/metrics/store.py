"""What the collector keeps in Redis between sweeps: each container's previous reading (for CPU % and
rates), the latest values (for pages and alert rules), the open history bucket being accumulated, and a
short ring of recent host figures for sparklines. Keys are per host, so a sweep touches only its own."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from apps.core.redis_client import shared_redis

HOST_SERIES = "host"  # a host's own figures; a container's are under series_key(its pk)
LATEST_SECONDS = 600  # latest values older than a few sweeps are not "latest" any more
RECENT_POINTS = 60


def series_key(container_pk: int | None) -> str:
    return f"c:{container_pk}" if container_pk is not None else HOST_SERIES


def container_of(key: str) -> int | None:
    return int(key[2:]) if key.startswith("c:") else None


def containers_in(values: dict[str, dict]) -> dict[int, dict]:
    """The containers' figures of one host's values, by container pk."""
    return {pk: figures for key, figures in values.items() if (pk := container_of(key)) is not None}


def _key(kind: str, host_pk: int) -> str:
    return f"{settings.REDIS_PREFIX}:metrics:{kind}:{host_pk}"


def _load(kind: str, host_pk: int) -> Any:
    raw = shared_redis().get(_key(kind, host_pk))
    return json.loads(raw) if raw else None


def _save(kind: str, host_pk: int, value: Any, ttl: int | None = None) -> None:
    shared_redis().set(_key(kind, host_pk), json.dumps(value, separators=(",", ":")), ex=ttl)


def previous_samples(host_pk: int) -> dict[str, dict]:
    return _load("previous", host_pk) or {}


def save_previous_samples(host_pk: int, samples: dict[str, dict]) -> None:
    _save("previous", host_pk, samples, ttl=3600)


def latest(host_pk: int) -> dict[str, dict]:
    """{"host": {...}, "c:<container pk>": {...}} as of the last sweep (empty when too old)."""
    return _load("latest", host_pk) or {}


def save_latest(host_pk: int, values: dict[str, dict]) -> None:
    _save("latest", host_pk, values, ttl=LATEST_SECONDS)


def host_figures(host_pk: int) -> dict:
    return latest(host_pk).get(HOST_SERIES) or {}


def container_figures(host_pk: int, container_pk: int) -> dict:
    return latest(host_pk).get(series_key(container_pk)) or {}


def latest_many(host_pks: list[int]) -> dict[int, dict[str, dict]]:
    if not host_pks:
        return {}
    raws = shared_redis().mget([_key("latest", pk) for pk in host_pks])
    return {pk: json.loads(raw) for pk, raw in zip(host_pks, raws, strict=True) if raw}


def open_bucket(host_pk: int) -> dict | None:
    return _load("bucket", host_pk)


def save_open_bucket(host_pk: int, bucket: dict) -> None:
    _save("bucket", host_pk, bucket, ttl=3600)


def push_recent(host_pk: int, point: dict) -> list[dict]:
    """Add a host figure to its ring and return the ring, oldest first."""
    key = _key("recent", host_pk)
    pipe = shared_redis().pipeline()
    pipe.rpush(key, json.dumps(point, separators=(",", ":")))
    pipe.ltrim(key, -RECENT_POINTS, -1)
    pipe.expire(key, LATEST_SECONDS)
    pipe.lrange(key, 0, -1)
    return [json.loads(item) for item in pipe.execute()[-1]]


def recent(host_pk: int) -> list[dict]:
    return [json.loads(item) for item in shared_redis().lrange(_key("recent", host_pk), 0, -1)]


def forget(host_pk: int) -> None:
    shared_redis().delete(*(_key(kind, host_pk) for kind in ("previous", "latest", "bucket", "recent")))
