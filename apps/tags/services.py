"""Tags: user tags and the ones derived from container labels."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache

from apps.tags.models import Tag

COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
DOCKMON_TAG_LABEL = "dockmon.tag"
MAX_TAG_LENGTH = 64
VERSION_KEY = "tags:version"


def normalise(name: str) -> str:
    return " ".join(name.strip().split())[:MAX_TAG_LENGTH]


def label_tag_names(labels: dict[str, str]) -> set[str]:
    """`com.docker.compose.project=shop` gives `compose:shop`; `dockmon.tag=a, b` gives `a` and `b`."""
    names = set()
    if labels.get(COMPOSE_PROJECT_LABEL):
        names.add(normalise(f"compose:{labels[COMPOSE_PROJECT_LABEL]}"))
    names.update(normalise(part) for part in labels.get(DOCKMON_TAG_LABEL, "").split(","))
    names.discard("")
    return names


def tags_named(names: Iterable[str]) -> dict[str, Tag]:
    """The tags with these names, created (grey) when missing."""
    wanted = {normalise(name) for name in names} - {""}
    found = {tag.name: tag for tag in Tag.objects.filter(name__in=wanted)}
    missing = [Tag(name=name) for name in wanted - found.keys()]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        found = {tag.name: tag for tag in Tag.objects.filter(name__in=wanted)}
    return found


def tags_version() -> int:
    """Bumped whenever a tag is recoloured or deleted, so HTML cached with tags in it goes stale."""
    return cache.get(VERSION_KEY, 0)


def tags_changed() -> None:
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # not set yet (or the cache is down)
        cache.set(VERSION_KEY, 1, None)
