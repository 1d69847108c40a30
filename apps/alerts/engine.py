"""Rule evaluation: from what DockMon learns (Docker events, host status, metric sweeps, HTTP checks,
auto-restart) to alerts fired and resolved.

Receivers (receivers.py) only pick what matters and queue a Celery task; the functions here run in workers,
where reading logs or asking Docker is allowed. Threshold rules are the exception: they are judged inside
the metrics sweep (already a worker task), on the very numbers it computed, at a fixed cost per sweep.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.alerts import services
from apps.alerts.context import container_facts, remember_exit_code, top_containers
from apps.alerts.models import Alert, AlertRule
from apps.alerts.scope import HOST_KINDS, container_scope, enabled_rules, host_in_scope
from apps.alerts.services import Target
from apps.containers.models import Container
from apps.core.redis_client import shared_redis
from apps.hosts.models import Host
from apps.metrics.store import HOST_SERIES, containers_in

logger = logging.getLogger(__name__)
Kind = AlertRule.Kind

# Injectable clock (seconds since the epoch) for the held-for-a-duration and restart-loop windows.
clock = time.time

# A die is judged this long after it happened: a container recreated under the same name (compose up,
# an update) or restarted by Docker is running again by then and raises nothing.
DEFAULT_LOOP_RESTARTS = 3
DEFAULT_LOOP_WINDOW = 600
STATE_SECONDS = 24 * 3600
ACTIVE_KINDS_KEY = "alerts:active-kinds"
ACTIVE_KINDS_SECONDS = 60

# Which metric of a sweep each threshold kind reads, and whether it is a container's or the host's.
THRESHOLDS: dict[str, tuple[str, str]] = {
    Kind.CONTAINER_CPU: ("container", "cpu"),
    Kind.CONTAINER_MEMORY: ("container", "memp"),
    Kind.HOST_CPU: ("host", "cpu"),
    Kind.HOST_MEMORY: ("host", "memp"),
    Kind.HOST_DISK: ("host", "disk"),
}
# Host CPU and memory alerts name the host's top containers by this metric of theirs.
TOP_BY = {Kind.HOST_CPU: "cpu", Kind.HOST_MEMORY: "mem"}
# Which kinds a Docker event can fire or resolve.
EVENT_KINDS: dict[str, frozenset[str]] = {
    "die": frozenset({Kind.CONTAINER_STOPPED, Kind.RESTART_LOOP}),
    "start": frozenset({Kind.CONTAINER_STARTED, Kind.CONTAINER_STOPPED, Kind.OOM_KILLED, Kind.RESTART_GAVE_UP}),
    "oom": frozenset({Kind.OOM_KILLED}),
    "health_status": frozenset({Kind.UNHEALTHY}),
}
# Alerts that clear when the container runs again (after what raised them).
CLEARED_BY_RUNNING = (Kind.CONTAINER_STOPPED, Kind.OOM_KILLED, Kind.RESTART_GAVE_UP)
CONTAINER_KINDS = frozenset(
    {Kind.CONTAINER_STOPPED, Kind.CONTAINER_STARTED, Kind.RESTART_LOOP, Kind.OOM_KILLED, Kind.UNHEALTHY,
     Kind.CHECK_FAILING, Kind.CONTAINER_CPU, Kind.CONTAINER_MEMORY, Kind.RESTART_GAVE_UP}
)  # fmt: skip


def stop_grace_seconds() -> int:
    return settings.ALERTS_STOP_GRACE_SECONDS


def _key(*parts: object) -> str:
    return ":".join([settings.REDIS_PREFIX, "alerts", *(str(part) for part in parts)])


# --- which kinds have rules --------------------------------------------------------------------------------


def active_kinds() -> frozenset[str]:
    """Kinds with at least one enabled rule: receivers skip everything else without a query."""
    kinds = cache.get(ACTIVE_KINDS_KEY)
    if kinds is None:
        kinds = sorted(set(AlertRule.objects.filter(enabled=True).values_list("kind", flat=True)))
        cache.set(ACTIVE_KINDS_KEY, kinds, ACTIVE_KINDS_SECONDS)
    return frozenset(kinds)


def forget_active_kinds() -> None:
    cache.delete(ACTIVE_KINDS_KEY)


class Rules:
    """The enabled rules of some kinds, read once per evaluation, each with its scope built once."""

    def __init__(self, kinds: Iterable[str]) -> None:
        self.rules = enabled_rules(kinds)
        self._scopes: dict[int, Any] = {}

    def of(self, kind: str) -> list[AlertRule]:
        return [rule for rule in self.rules if rule.kind == kind]

    def watching(self, kind: str, container: Container) -> list[AlertRule]:
        return [rule for rule in self.of(kind) if self.watches(rule, container)]

    def watches(self, rule: AlertRule, container: Container) -> bool:
        return self._scope(rule)(container)

    def _scope(self, rule: AlertRule):
        if rule.pk not in self._scopes:
            self._scopes[rule.pk] = container_scope(rule)
        return self._scopes[rule.pk]


class Facts:
    """A container's context for its alerts, read from Docker at most once per task whatever the rules."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self._facts: dict[tuple[bool, bool], dict] = {}

    def get(self, *, logs: bool = False, docker: bool = False, **extra: Any) -> dict[str, Any]:
        if (logs, docker) not in self._facts:
            self._facts[(logs, docker)] = container_facts(self.container, logs=logs, docker=docker)
        return {**self._facts[(logs, docker)], **extra}


# --- Docker events -----------------------------------------------------------------------------------------


def happenings_to_judge(happenings: Iterable[Any]) -> list[dict[str, Any]]:
    """The events some enabled rule cares about, as plain values for a task (called in the listener)."""
    kinds = active_kinds()
    if not kinds:
        return []
    return [
        {
            "container": happening.container.pk,
            "docker_id": happening.container.docker_id,
            "action": happening.action,
            "time": happening.time.isoformat(),
            "exit_code": happening.exit_code,
            "health": happening.health,
            "by_dockmon": happening.by_dockmon,
        }
        for happening in happenings
        if kinds & EVENT_KINDS.get(happening.action, frozenset()) and happening.container.pk
    ]


def judge_happenings(items: list[dict[str, Any]]) -> None:
    """Fire and resolve on a batch of Docker events, in the order they happened."""
    rows = Container.objects.select_related("host").in_bulk({item["container"] for item in items})
    rules = Rules(set().union(*(EVENT_KINDS[item["action"]] for item in items)))
    facts: dict[int, Facts] = {}
    for item in items:
        row = rows.get(item["container"])
        if row is None:
            continue
        row_facts = facts.setdefault(row.pk, Facts(row))
        at = parse_datetime(item["time"]) or timezone.now()
        action = item["action"]
        if action == "die":
            _on_die(row, item, at, rules, row_facts)
        elif action == "start":
            _on_start(row, at, rules, row_facts)
        elif action == "oom":
            for rule in rules.watching(Kind.OOM_KILLED, row):
                services.fire(rule, Target.of_container(row), context=row_facts.get(logs=True, docker=True), seen_at=at)
        elif action == "health_status":
            _on_health(row, item["health"], at, rules, row_facts)


def _on_die(row: Container, item: dict, at: datetime, rules: Rules, facts: Facts) -> None:
    from apps.alerts.tasks import check_stopped

    remember_exit_code(row.pk, item["exit_code"])
    if rules.of(Kind.CONTAINER_STOPPED):
        check_stopped.apply_async(
            (row.pk, item["docker_id"], item["exit_code"], item["time"]), countdown=stop_grace_seconds()
        )
    loop_rules = rules.watching(Kind.RESTART_LOOP, row)
    if not loop_rules:
        return
    # A die that is part of a stop or restart asked for through DockMon is no crash.
    requested = item["by_dockmon"]
    now = clock()
    dies = _key("dies", row.pk)
    pipe = shared_redis().pipeline()
    pipe.zadd(dies, {f"{now:.6f}:{int(requested)}": now})
    pipe.zremrangebyscore(dies, "-inf", now - STATE_SECONDS)
    pipe.expire(dies, STATE_SECONDS)
    pipe.execute()
    for rule in loop_rules:
        window = rule.window_seconds or DEFAULT_LOOP_WINDOW
        restarts = _dies_within(row.pk, window, counting_requested=rule.include_intended_stops)
        if restarts >= (rule.occurrences or DEFAULT_LOOP_RESTARTS):
            context = facts.get(logs=True, restarts=restarts, window_seconds=window, exit_code=item["exit_code"])
            services.fire(rule, Target.of_container(row), context=context, value=restarts, seen_at=at)


def _dies_within(container_pk: int, window: float, *, counting_requested: bool) -> int:
    members = shared_redis().zrangebyscore(_key("dies", container_pk), clock() - window, "+inf")
    return sum(1 for member in members if counting_requested or not member.endswith(b":1"))


def _on_start(row: Container, at: datetime, rules: Rules, facts: Facts) -> None:
    if row.state == Container.State.RUNNING:
        open_alerts = Alert.objects.filter(container=row, kind__in=CLEARED_BY_RUNNING, last_seen_at__lt=at).exclude(
            state=Alert.State.RESOLVED
        )
        services.resolve_open(open_alerts, reason="The container is running again.")
    for rule in rules.watching(Kind.CONTAINER_STARTED, row):
        services.fire(rule, Target.of_container(row), context=facts.get(), seen_at=at)


def _on_health(row: Container, health: str, at: datetime, rules: Rules, facts: Facts) -> None:
    if health == Container.Health.UNHEALTHY:
        for rule in rules.watching(Kind.UNHEALTHY, row):
            services.fire(rule, Target.of_container(row), context=facts.get(logs=True, docker=True), seen_at=at)
    elif health == Container.Health.HEALTHY:
        open_alerts = Alert.objects.filter(container=row, kind=Kind.UNHEALTHY).exclude(state=Alert.State.RESOLVED)
        services.resolve_open(open_alerts, reason="Docker's health check passes again.")


def check_stopped(container_pk: int, docker_id: str, exit_code: int | None, died_at: str) -> list[Alert]:
    """A grace period after a die: fire "stopped" if the container is still down, neither running again,
    nor replaced by a new container of the same name, nor removed, nor stopped on purpose."""
    row = Container.objects.select_related("host").filter(pk=container_pk).first()
    if row is None or row.is_removed or row.docker_id != docker_id:
        return []  # removed, or recreated under the same name: the new container's events speak for it
    if row.state not in (Container.State.EXITED, Container.State.DEAD):
        return []  # running again (restarted by Docker or someone), restarting, or paused
    intended = row.stopped_by_user or row.desired_state == Container.DesiredState.ON_DEMAND
    rules = [
        rule
        for rule in Rules([Kind.CONTAINER_STOPPED]).watching(Kind.CONTAINER_STOPPED, row)
        if rule.include_intended_stops or not intended
    ]
    if not rules:
        return []
    at = parse_datetime(died_at) or timezone.now()
    context = container_facts(row, logs=True)
    context["exit_code"] = exit_code if exit_code is not None else row.exit_code
    if row.stopped_by_user:
        context["error"] = "Stopped through DockMon by a user."
    elif row.oom_killed:
        context["error"] = "Killed for lack of memory (OOM)."
    return [services.fire(rule, Target.of_container(row), context=context, seen_at=at) for rule in rules]


# --- hosts -----------------------------------------------------------------------------------------------


def judge_host_status(host_pk: int, *, online: bool, error: str) -> None:
    """A host went down (fire, at once or after the rule's duration) or came back (resolve)."""
    from apps.alerts.tasks import check_host_offline

    host = Host.objects.filter(pk=host_pk).first()
    if host is None:
        return
    if online:
        services.resolve_open(
            Alert.objects.filter(host=host, kind=Kind.HOST_OFFLINE).exclude(state=Alert.State.RESOLVED),
            reason="The host answers again.",
        )
        return
    since = (host.status_changed_at or timezone.now()).isoformat()
    for rule in enabled_rules([Kind.HOST_OFFLINE]):
        if not host_in_scope(rule, host):
            continue
        if rule.duration_seconds:
            check_host_offline.apply_async((host.pk, rule.pk, since), countdown=rule.duration_seconds)
        else:
            fire_host_offline(host, rule, error=error)


def check_host_offline(host_pk: int, rule_pk: int, since: str) -> Alert | None:
    """The rule's duration after a host went down: fire if it is still down, in the same outage."""
    host = Host.objects.filter(pk=host_pk).first()
    rule = AlertRule.objects.filter(pk=rule_pk, enabled=True).first()
    if host is None or rule is None or host.is_online:
        return None
    if host.status_changed_at and host.status_changed_at.isoformat() != since:
        return None  # it came back and went down again since: that outage has its own check
    return fire_host_offline(host, rule, error=host.last_error)


def fire_host_offline(host: Host, rule: AlertRule, *, error: str) -> Alert:
    down_since = host.status_changed_at or timezone.now()
    context = {
        "error": error,
        "duration_seconds": (timezone.now() - down_since).total_seconds(),
        "down_since": down_since.isoformat(),
    }
    return services.fire(rule, Target.of_host(host), context=context, seen_at=down_since)


# --- thresholds (inside the metrics sweep) ---------------------------------------------------------------


def judge_sweep(host: Host, values: dict[str, dict], now: float | None = None) -> None:
    """Judge the threshold rules on one sweep of one host. A fixed number of queries and Redis round trips
    however many containers; nothing at all when no threshold rule is enabled."""
    kinds = active_kinds() & THRESHOLDS.keys()
    if not kinds:
        return
    rules = Rules(kinds)
    if not rules.rules:
        return
    now = clock() if now is None else now
    figures = containers_in(values)
    rows = _rows_of(host, figures)  # container rules judge them; host rules name the top ones
    open_alerts = {
        (rule_pk, key): pk
        for rule_pk, key, pk in Alert.objects.filter(host=host, kind__in=kinds)
        .exclude(state=Alert.State.RESOLVED)
        .values_list("rule_id", "target_key", "pk")
    }
    keys = [_key("breach", rule.pk, host.pk) for rule in rules.rules]
    pipe = shared_redis().pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
    stored = pipe.execute()
    writes = shared_redis().pipeline(transaction=False)
    for rule, key, states in zip(rules.rules, keys, stored, strict=True):
        states = {field.decode(): json.loads(raw) for field, raw in states.items()}
        targets = _targets(rule, rules, host, values, figures, rows)
        for target_key, (target, value, extra) in targets.items():
            state = _step(rule, target, value, extra, states.get(target_key), open_alerts, now)
            if state is None:
                writes.hdel(key, target_key)
            elif state != states.get(target_key):
                writes.hset(key, target_key, json.dumps(state))
        for gone in states.keys() - targets.keys():
            # Stopped, out of scope, or no longer measured: its breach is over.
            writes.hdel(key, gone)
        for (rule_pk, target_key), alert_pk in open_alerts.items():
            if rule_pk == rule.pk and target_key not in targets and target_key.startswith("container:"):
                services.resolve_open(Alert.objects.filter(pk=alert_pk), reason="The container is no longer running.")
        writes.expire(key, STATE_SECONDS)
    writes.execute()


def _rows_of(host: Host, figures: dict[int, dict]) -> dict[int, Container]:
    rows = Container.objects.filter(host=host, pk__in=list(figures)).only(
        "pk", "name", "image", "state", "labels", "desired_state", "host_id", "docker_id"
    )
    for row in rows:
        row.host = host  # the matcher and the alert need it; no query per container
    return {row.pk: row for row in rows}


def _targets(rule: AlertRule, rules: Rules, host: Host, values: dict, figures: dict[int, dict],
             rows: dict[int, Container]) -> dict[str, tuple[Target, float | None, dict]]:  # fmt: skip
    """What the rule judges in this sweep: {target key: (target, value, extra context)}."""
    scope, metric = THRESHOLDS[rule.kind]
    if scope == "host":
        if not host_in_scope(rule, host):
            return {}
        host_values = values.get(HOST_SERIES) or {}
        extra: dict[str, Any] = {}
        if rule.kind in TOP_BY:
            names = {pk: row.name for pk, row in rows.items()}
            extra = {"top_containers": top_containers(values, names, TOP_BY[rule.kind]), "metric": TOP_BY[rule.kind]}
        target = Target.of_host(host)
        return {target.key: (target, host_values.get(metric), extra)}
    targets = {}
    for pk, figure in figures.items():
        row = rows.get(pk)
        if row is not None and rules.watches(rule, row):
            extra = {"memory_limit": figure.get("limit")} if rule.kind == Kind.CONTAINER_MEMORY else {}
            target = Target.of_container(row)
            targets[target.key] = (target, figure.get(metric), extra)
    return targets


def _step(rule: AlertRule, target: Target, value: float | None, extra: dict, state: dict | None,
          open_alerts: dict, now: float) -> dict | None:  # fmt: skip
    """One reading of one target: the new breach state (None: nothing to remember), firing or resolving
    on the way. Fires once the value stayed above the threshold for the duration (or went above it
    `occurrences` times within the window); resolves once it is below the clear threshold."""
    if value is None or rule.threshold is None:
        return state  # not measured this time: nothing changes
    state = dict(state or {})
    clear = rule.resolve_below
    alert_pk = open_alerts.get((rule.pk, target.key))
    if state.get("fired") or alert_pk:
        if value < clear:
            if alert_pk:
                services.resolve_open(
                    Alert.objects.filter(pk=alert_pk), reason=f"Back to {value:.1f}, below {clear:g}."
                )
            return None
        return {**state, "fired": True}
    above = value > rule.threshold
    if rule.occurrences and rule.window_seconds:
        hits = [hit for hit in state.get("hits", []) if hit > now - rule.window_seconds] + ([now] if above else [])
        state["hits"] = hits
        due = len(hits) >= rule.occurrences
    else:
        state["since"] = (state.get("since") or now) if above else None
        due = above and now - state["since"] >= rule.duration_seconds
    if due:
        since = state.get("since") or (state.get("hits") or [now])[0]
        context = {**extra, "value": round(value, 1), "threshold": rule.threshold, "clear_threshold": clear,
                   "duration_seconds": now - since}  # fmt: skip
        services.fire(rule, target, context=context, value=value)
        return {"fired": True}
    if not state.get("since") and not state.get("hits"):
        return None
    return state


# --- HTTP checks and auto-restart --------------------------------------------------------------------------


def judge_check_status(check_pk: int, *, healthy: bool, error: str) -> None:
    from apps.monitors.models import HealthCheck

    check = HealthCheck.objects.select_related("container__host").filter(pk=check_pk).first()
    if check is None:
        return
    target = Target.of_check(check)
    if healthy:
        services.resolve_open(
            Alert.objects.filter(target_key=target.key, kind=Kind.CHECK_FAILING).exclude(state=Alert.State.RESOLVED),
            reason="The HTTP health check passes again.",
        )
        return
    rules = Rules([Kind.CHECK_FAILING])
    for rule in rules.watching(Kind.CHECK_FAILING, check.container):
        context = {"check_url": check.url, "error": error, "status_code": check.last_status_code,
                   "state": check.container.state}  # fmt: skip
        services.fire(rule, target, context=context)


def judge_restart_gave_up(container_pk: int, *, attempts: int, exit_codes: list[int], error: str) -> None:
    row = Container.objects.select_related("host").filter(pk=container_pk).first()
    if row is None:
        return
    rules = Rules([Kind.RESTART_GAVE_UP]).watching(Kind.RESTART_GAVE_UP, row)
    if not rules:
        return
    context = container_facts(row, logs=True)
    context.update(attempts=attempts, error=error)
    if exit_codes:
        context.update(exit_codes=list(reversed(exit_codes))[:5], exit_code=exit_codes[-1])
    for rule in rules:
        services.fire(rule, Target.of_container(row), context=context)


def judge_restart_recovered(container_pk: int) -> None:
    services.resolve_open(
        Alert.objects.filter(container_id=container_pk, kind=Kind.RESTART_GAVE_UP).exclude(state=Alert.State.RESOLVED),
        reason="Auto-restart brought it back: it stayed up.",
    )


# --- the periodic safety net -------------------------------------------------------------------------------


def cleared_reason(alert: Alert) -> str | None:
    """Why an open alert's condition no longer holds, or None while it does. For conditions that may clear
    without an event saying so (a missed event, a restart of DockMon, a deleted container or rule)."""
    rule = alert.rule
    if rule is None:
        return "Its rule was deleted."
    if not rule.enabled:
        return "Its rule was disabled."
    if alert.kind in HOST_KINDS:
        if alert.host is None:
            return "The host was deleted."
        if alert.kind == Kind.HOST_OFFLINE and alert.host.is_online:
            return "The host answers again."
        return None
    if alert.kind not in CONTAINER_KINDS:
        return None
    container = alert.container
    if container is None:
        return "The container no longer exists."
    if container.is_removed:
        return "The container was removed."
    running = container.state == Container.State.RUNNING
    if alert.kind in CLEARED_BY_RUNNING:
        started_after = container.started_at is not None and container.started_at > alert.last_seen_at
        return "The container is running again." if running and started_after else None
    if alert.kind == Kind.RESTART_LOOP:
        window = rule.window_seconds or DEFAULT_LOOP_WINDOW
        calm = _dies_within(container.pk, window, counting_requested=True) == 0
        return f"Running without a restart for {window // 60} min." if running and calm else None
    if alert.kind == Kind.UNHEALTHY:
        return "Docker's health check passes again." if container.health != Container.Health.UNHEALTHY else None
    if alert.kind in (Kind.CONTAINER_CPU, Kind.CONTAINER_MEMORY):
        return None if running else "The container is no longer running."
    if alert.kind == Kind.CHECK_FAILING:
        from apps.monitors.models import HealthCheck

        check = HealthCheck.objects.filter(pk=alert.target_key.removeprefix("check:")).first()
        if check is None:
            return "The HTTP health check was deleted."
        return "The HTTP health check passes again." if check.status == HealthCheck.Status.HEALTHY else None
    return None


def reconcile(now: datetime | None = None) -> dict[str, int]:
    """Resolve alerts whose condition cleared unseen, end snoozes that are over, release notifications
    whose quiet hours ended. Returns what it did, for the task's result."""
    now = now or timezone.now()
    resolved = 0
    open_alerts = Alert.objects.exclude(state=Alert.State.RESOLVED).select_related("rule", "container", "host")
    for alert in open_alerts:
        reason = cleared_reason(alert)
        if reason is not None:
            quietly = alert.rule is None or not alert.rule.enabled
            resolved += services.resolve(alert, reason=reason, notify=not quietly, now=now)
    woken = sum(
        services.end_snooze(alert, now=now)
        for alert in Alert.objects.filter(state=Alert.State.SNOOZED, snoozed_until__lte=now).select_related("rule")
    )
    released, cancelled = services.release_deferred(now)
    return {"resolved": resolved, "snoozes_ended": woken, "released": released, "cancelled": cancelled}
