"""What an alert carries beyond its title: the facts a person needs to act without opening a terminal.

Read when the alert fires, in a Celery task (never in the events listener): the last exit codes and the last
log lines of a container, its memory limit, the host's top containers. A host that does not answer leaves
its part out with a note saying why, so the alert still goes out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.alerts.messages import container_url, format_duration, host_url
from apps.alerts.models import AlertRule
from apps.containers.logs import log_lines
from apps.containers.models import Container
from apps.core.redis_client import shared_redis
from apps.hosts.engines import engine_for
from apps.hosts.models import Host
from apps.metrics.formatting import size
from dockmon_agent.engine.base import EngineError

LOG_LINES = 20
KEPT_EXIT_CODES = 10
SHOWN_EXIT_CODES = 5
TOP_CONTAINERS = 3
EXIT_CODES_SECONDS = 7 * 24 * 3600


def _exit_codes_key(container_pk: int) -> str:
    return f"{settings.REDIS_PREFIX}:alerts:exits:{container_pk}"


def remember_exit_code(container_pk: int, exit_code: int | None) -> None:
    """Keep a container's last exit codes (newest first), for the alerts that quote them."""
    if exit_code is None:
        return
    key = _exit_codes_key(container_pk)
    pipe = shared_redis().pipeline()
    pipe.lpush(key, exit_code)
    pipe.ltrim(key, 0, KEPT_EXIT_CODES - 1)
    pipe.expire(key, EXIT_CODES_SECONDS)
    pipe.execute()


def recent_exit_codes(container_pk: int) -> list[int]:
    return [int(code) for code in shared_redis().lrange(_exit_codes_key(container_pk), 0, SHOWN_EXIT_CODES - 1)]


def log_tail(container: Container, lines: int = LOG_LINES) -> tuple[list[str], str]:
    """The container's last log lines, and a note when they could not be read (then no lines)."""
    try:
        return [line.rstrip("\n") for line in log_lines(container, tail=lines, timestamps=False)][-lines:], ""
    except EngineError as error:
        return [], f"The log lines could not be read: {error}"


def docker_details(container: Container) -> tuple[dict[str, Any], str]:
    """The container's memory limit (bytes, None when unlimited) and last health check output, from Docker."""
    try:
        with engine_for(container.host) as engine:
            document = engine.inspect(container.docker_id)
    except EngineError as error:
        return {}, f"Docker's details could not be read: {error}"
    health_log = ((document.get("State") or {}).get("Health") or {}).get("Log") or []
    return {
        "memory_limit": (document.get("HostConfig") or {}).get("Memory") or None,
        "health_output": (health_log[-1].get("Output") or "").strip()[:1000] if health_log else "",
    }, ""


def container_facts(container: Container, *, logs: bool = False, docker: bool = False) -> dict[str, Any]:
    """What every container alert carries, plus (on request) its log tail and Docker's details."""
    facts: dict[str, Any] = {
        "state": container.state,
        "exit_code": container.exit_code,
        "exit_codes": recent_exit_codes(container.pk),
        "image": container.image,
    }
    notes = []
    if logs:
        facts["log_tail"], note = log_tail(container)
        notes.append(note)
    if docker:
        details, note = docker_details(container)
        facts.update(details)
        notes.append(note)
    facts["notes"] = [note for note in notes if note]
    return facts


def top_containers(values: Mapping[str, Mapping], names: Mapping[int, str], metric: str) -> list[dict]:
    """The host's containers using the most of `metric` ("cpu" %, "mem" bytes) in a sweep, biggest first."""
    ranked = sorted(
        (
            (figures.get(metric) or 0, pk)
            for key, figures in values.items()
            if key.startswith("c:") and (pk := int(key[2:])) in names
        ),
        reverse=True,
    )
    return [{"name": names[pk], "pk": pk, "value": value} for value, pk in ranked[:TOP_CONTAINERS]]


def top_containers_text(top: list[dict], metric: str) -> str:
    return "\n".join(f"{item['name']} {_metric_text(item['value'], metric)}" for item in top)


def _metric_text(value: float | None, metric: str) -> str:
    if value is None:
        return "—"
    return size(value) if metric == "mem" else f"{value:.1f}%"


def message_variables(
    rule: AlertRule, *, container: Container | None, host: Host | None, context: Mapping[str, Any]
) -> dict[str, Any]:
    """The values a rule's message template may use, from what the alert carries."""
    variables: dict[str, Any] = {
        "host": host.name if host else context.get("host_name", ""),
        "time": timezone.localtime(timezone.now()).strftime("%Y-%m-%d %H:%M:%S"),
        "error": context.get("error") or context.get("health_output") or "",
    }
    if container is not None:
        variables.update(container=container.name, image=container.image, state=container.state)
        variables["url"] = container_url(container)
    elif host is not None:
        variables["state"] = host.get_status_display().lower()
        variables["url"] = host_url(host)
    for name in ("exit_code", "exit_codes", "value", "threshold", "restarts", "check_url", "attempts"):
        if context.get(name) is not None:
            variables[name] = context[name]
    if "state" in context and container is not None:
        variables["state"] = context["state"]
    if context.get("duration_seconds") is not None:
        variables["duration"] = format_duration(context["duration_seconds"])
    if context.get("window_seconds") is not None:
        variables["window"] = format_duration(context["window_seconds"])
    if context.get("memory_limit"):
        variables["memory_limit"] = size(context["memory_limit"])
    elif "memory_limit" in context:
        variables["memory_limit"] = "no limit"
    if context.get("top_containers"):
        variables["top_containers"] = top_containers_text(context["top_containers"], context.get("metric", "cpu"))
    if "log_tail" in context or context.get("notes"):
        lines = context.get("log_tail") or []
        variables["log_tail"] = "\n".join(lines) if lines else "\n".join(context.get("notes") or ["(no output)"])
    return variables


def compact(context: Mapping[str, Any]) -> str:
    """The context as short JSON, for the audit trail (the log tail is left out: it can be long)."""
    return json.dumps({k: v for k, v in context.items() if k not in ("log_tail", "history")}, default=str)[:900]
