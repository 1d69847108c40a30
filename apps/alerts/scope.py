"""Which containers and hosts an alert rule watches.

Built for the engine's hot path: `container_scope(rule)` reads the rule's filters once (a few queries at
most, however many containers it then judges), and the matcher it returns is a plain function of a
container. Rules from `enabled_rules()` come with their hosts and tags prefetched.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from fnmatch import fnmatchcase
from functools import cached_property

from django.core.exceptions import ValidationError

from apps.alerts.models import AlertRule
from apps.containers.models import Container, ContainerTag
from apps.hosts.models import Host

logger = logging.getLogger(__name__)

HOST_KINDS = frozenset(
    {
        AlertRule.Kind.HOST_CPU,
        AlertRule.Kind.HOST_MEMORY,
        AlertRule.Kind.HOST_OFFLINE,
        AlertRule.Kind.HOST_DISK,
    }
)
RULE_RELATIONS = ("channels", "hosts", "host_tags", "container_tags")


def parse_label_lines(text: str) -> list[tuple[str, str | None]]:
    """`key=value` or `key` per line into (key, value or None); blank lines are skipped."""
    wanted: list[tuple[str, str | None]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        key, has_value, value = line.partition("=")
        key = key.strip()
        if not key or any(character.isspace() for character in key):
            raise ValidationError(
                f"Label line {number} “{line}” is not “key=value” or “key”: the key must be one word without spaces."
            )
        wanted.append((key, value.strip() if has_value else None))
    return wanted


def pattern_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def compile_name_regex(pattern: str) -> re.Pattern[str]:
    """The rule's name regex; a clear sentence when it does not compile."""
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValidationError(f"The regular expression “{pattern}” does not compile: {error}.") from error


def _ids(manager) -> set[int]:
    # Uses the prefetched rows when the rule came from enabled_rules(), else one query.
    return {related.pk for related in manager.all()}


class ContainerScope:
    """A rule's container filters, read once. Call it with a container: True when the rule watches it.

    The host of a container is compared by `host_id`, so containers need not carry their host row. Host and
    container tag filters cost one query each, on first use, whatever the number of containers judged.
    """

    def __init__(self, rule: AlertRule) -> None:
        self.rule = rule
        self.host_ids = _ids(rule.hosts)
        self.host_tag_ids = _ids(rule.host_tags)
        self.container_tag_ids = _ids(rule.container_tags)
        self.label_rules, self.broken = self._label_rules()
        self.exclusions = pattern_lines(rule.exclude_names)
        self.name_test = self._name_test()

    def _label_rules(self) -> tuple[list[tuple[str, str | None]], bool]:
        try:
            return parse_label_lines(self.rule.labels), False
        except ValidationError:
            # The form refuses such lines; a rule saved some other way matches nothing, loudly.
            logger.warning("Alert rule %s has label lines that do not parse: %r", self.rule.pk, self.rule.labels)
            return [], True

    def _name_test(self):
        pattern = self.rule.name_pattern.strip()
        if not pattern:
            return None
        if self.rule.name_match == AlertRule.NameMatch.EXACT:
            return lambda name: name == pattern
        if self.rule.name_match == AlertRule.NameMatch.REGEX:
            try:
                regex = compile_name_regex(pattern)
            except ValidationError:
                logger.warning("Alert rule %s has a name regex that does not compile: %r", self.rule.pk, pattern)
                return lambda name: False
            return lambda name: regex.search(name) is not None
        return lambda name: fnmatchcase(name, pattern)

    @cached_property
    def hosts_with_tags(self) -> set[int]:
        return set(Host.objects.filter(tags__in=self.host_tag_ids).values_list("pk", flat=True))

    @cached_property
    def tagged_containers(self) -> set[int]:
        return set(ContainerTag.objects.filter(tag__in=self.container_tag_ids).values_list("container_id", flat=True))

    def host_matches(self, host_id: int) -> bool:
        if self.host_ids and host_id not in self.host_ids:
            return False
        return not self.host_tag_ids or host_id in self.hosts_with_tags

    def __call__(self, container: Container) -> bool:
        rule = self.rule
        if self.broken:
            return False
        if rule.desired_state and container.desired_state != rule.desired_state:
            return False
        if self.name_test is not None and not self.name_test(container.name):
            return False
        if any(fnmatchcase(container.name, excluded) for excluded in self.exclusions):
            return False
        labels = container.labels or {}
        for key, value in self.label_rules:
            if key not in labels or (value is not None and str(labels[key]) != value):
                return False
        if not self.host_matches(container.host_id):
            return False
        return not self.container_tag_ids or container.pk in self.tagged_containers


def container_scope(rule: AlertRule) -> ContainerScope:
    """The matcher for one rule: `container_scope(rule)(container) -> bool`. Build it once per evaluation
    round and reuse it for every container; it costs at most two queries in all."""
    return ContainerScope(rule)


def host_in_scope(rule: AlertRule, host: Host) -> bool:
    """For host kinds: the rule's hosts (none = all) and host tags (any of them) admit this host."""
    host_ids = _ids(rule.hosts)
    if host_ids and host.pk not in host_ids:
        return False
    host_tag_ids = _ids(rule.host_tags)
    return not host_tag_ids or bool(host_tag_ids & _ids(host.tags))


def enabled_rules(kinds: Iterable[str]) -> list[AlertRule]:
    """Enabled rules of these kinds, with channels, hosts and tags prefetched."""
    return list(AlertRule.objects.filter(enabled=True, kind__in=list(kinds)).prefetch_related(*RULE_RELATIONS))


def matching_containers(rule: AlertRule) -> list[Container]:
    """The containers (not removed) the rule watches right now, with their hosts; for the rule page."""
    scope = container_scope(rule)
    candidates = Container.objects.exclude(state=Container.State.REMOVED).select_related("host")
    if scope.host_ids:
        candidates = candidates.filter(host__in=scope.host_ids)
    if rule.desired_state:
        candidates = candidates.filter(desired_state=rule.desired_state)
    return [container for container in candidates.order_by("host__name", "name") if scope(container)]


def describe_scope(rule: AlertRule) -> list[str]:
    """What the rule watches, in words, one sentence per filter that is set."""
    watched = "hosts" if rule.kind in HOST_KINDS else "containers"
    parts: list[str] = []
    hosts = [host.name for host in rule.hosts.all()]
    if hosts:
        parts.append(f"On host{'s' if len(hosts) > 1 else ''} {', '.join(hosts)}.")
    host_tags = [tag.name for tag in rule.host_tags.all()]
    if host_tags:
        parts.append(f"On hosts tagged {' or '.join(host_tags)}.")
    if watched == "containers":
        container_tags = [tag.name for tag in rule.container_tags.all()]
        if container_tags:
            parts.append(f"Containers tagged {' or '.join(container_tags)}.")
        if rule.name_pattern:
            how = {
                AlertRule.NameMatch.EXACT: "named exactly",
                AlertRule.NameMatch.GLOB: "with names matching",
                AlertRule.NameMatch.REGEX: "with names matching the regular expression",
            }[rule.name_match]
            parts.append(f"Containers {how} “{rule.name_pattern}”.")
        try:
            for key, value in parse_label_lines(rule.labels):
                parts.append(f"With label {key}={value}." if value is not None else f"With a label {key}.")
        except ValidationError as error:
            parts.append(f"Matches nothing: {error.messages[0]}")
        exclusions = pattern_lines(rule.exclude_names)
        if exclusions:
            parts.append(f"Except {', '.join(exclusions)}.")
        if rule.desired_state:
            parts.append(f"Only containers whose desired state is “{rule.get_desired_state_display().lower()}”.")
    if not parts:
        parts.append("Every host." if watched == "hosts" else "Every container on every host.")
    return parts
