"""Notification titles and bodies: `{name}` placeholders filled from a fixed set of variables.

Templates are users' text, so they are never Django templates and never reach an attribute or an item:
only bare names from VARIABLES, without conversions or format specs. Missing or empty values render as “—”.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from string import Formatter
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.alerts.models import AlertRule
from apps.containers.models import Container
from apps.core.formatting import duration_words
from apps.hosts.models import Host

Kind = AlertRule.Kind
MISSING = "—"

VARIABLES: dict[str, str] = {
    "rule": "The rule's name",
    "severity": "Info, Warning, Error or Critical",
    "container": "Container name",
    "host": "Host name",
    "image": "Container image",
    "state": "Container state (running, exited, …) or host status",
    "exit_code": "Exit code of the container's last run",
    "exit_codes": "Its last exit codes, newest first",
    "value": "The measured value (e.g. CPU %)",
    "threshold": "The rule's threshold",
    "duration": "How long the condition has held, e.g. “5 min”",
    "restarts": "Restarts counted in the rule's window",
    "window": "The rule's window, e.g. “10 min”",
    "memory_limit": "The container's memory limit",
    "top_containers": "The 3 containers using the most, one per line",
    "log_tail": "The container's last 20 log lines",
    "check_url": "URL of the HTTP health check",
    "error": "What went wrong, in the words of Docker, the check or the host",
    "attempts": "Restart attempts made by auto-restart",
    "url": "Link to the container (or host) page in DockMon",
    "time": "When it happened",
}

_COMMON = ("rule", "severity", "host", "url", "time")
_CONTAINER = ("container", "image", "state")
_THRESHOLD = ("value", "threshold", "duration")
# Which variables each kind fills, beyond what every alert has; shown next to the template fields.
KIND_VARIABLES: dict[str, tuple[str, ...]] = {
    Kind.CONTAINER_STOPPED: (*_CONTAINER, "exit_code", "exit_codes", "log_tail", "error"),
    Kind.CONTAINER_STARTED: _CONTAINER,
    Kind.RESTART_LOOP: (*_CONTAINER, "restarts", "window", "exit_code", "exit_codes", "log_tail"),
    Kind.OOM_KILLED: (*_CONTAINER, "exit_code", "memory_limit", "log_tail"),
    Kind.UNHEALTHY: (*_CONTAINER, "error", "log_tail"),
    Kind.CHECK_FAILING: (*_CONTAINER, "check_url", "error"),
    Kind.CONTAINER_CPU: _CONTAINER + _THRESHOLD,
    Kind.CONTAINER_MEMORY: _CONTAINER + _THRESHOLD + ("memory_limit",),
    Kind.HOST_CPU: (*_THRESHOLD, "top_containers"),
    Kind.HOST_MEMORY: (*_THRESHOLD, "top_containers"),
    Kind.HOST_OFFLINE: ("state", "error", "duration"),
    Kind.HOST_DISK: _THRESHOLD,
    Kind.RESTART_GAVE_UP: (*_CONTAINER, "attempts", "exit_code", "exit_codes", "log_tail", "error"),
}

DEFAULT_TITLES: dict[str, str] = {
    Kind.CONTAINER_STOPPED: "{container} on {host} exited with code {exit_code}",
    Kind.CONTAINER_STARTED: "{container} on {host} started",
    Kind.RESTART_LOOP: "{container} on {host} restarted {restarts} times in {window}",
    Kind.OOM_KILLED: "{container} on {host} was killed for lack of memory",
    Kind.UNHEALTHY: "{container} on {host} is unhealthy",
    Kind.CHECK_FAILING: "Health check of {container} on {host} is failing",
    Kind.CONTAINER_CPU: "{container} on {host}: CPU {value}% (above {threshold}%)",
    Kind.CONTAINER_MEMORY: "{container} on {host}: memory {value}% of its limit (above {threshold}%)",
    Kind.HOST_CPU: "{host}: CPU {value}% (above {threshold}%)",
    Kind.HOST_MEMORY: "{host}: memory {value}% (above {threshold}%)",
    Kind.HOST_OFFLINE: "{host} is offline",
    Kind.HOST_DISK: "{host}: disk {value}% full (above {threshold}%)",
    Kind.RESTART_GAVE_UP: "Auto-restart gave up on {container} on {host}",
}

_CONTAINER_FOOTER = "Image: {image}\n{url}"
DEFAULT_BODIES: dict[str, str] = {
    Kind.CONTAINER_STOPPED: (
        "{container} on {host} stopped with exit code {exit_code} ({state}).\n"
        "Last exit codes: {exit_codes}\n\nLast log lines:\n{log_tail}\n\n" + _CONTAINER_FOOTER
    ),
    Kind.CONTAINER_STARTED: "{container} on {host} is {state}.\n\n" + _CONTAINER_FOOTER,
    Kind.RESTART_LOOP: (
        "{container} on {host} restarted {restarts} times in {window}.\n"
        "Last exit codes: {exit_codes}\n\nLast log lines:\n{log_tail}\n\n" + _CONTAINER_FOOTER
    ),
    Kind.OOM_KILLED: (
        "The kernel killed {container} on {host} for using more than its memory limit ({memory_limit}).\n"
        "Exit code: {exit_code}\n\nLast log lines:\n{log_tail}\n\n" + _CONTAINER_FOOTER
    ),
    Kind.UNHEALTHY: (
        "Docker's health check reports {container} on {host} unhealthy.\n"
        "Last check output: {error}\n\nLast log lines:\n{log_tail}\n\n" + _CONTAINER_FOOTER
    ),
    Kind.CHECK_FAILING: (
        "The HTTP health check {check_url} of {container} on {host} is failing.\nError: {error}\n\n" + _CONTAINER_FOOTER
    ),
    Kind.CONTAINER_CPU: (
        "{container} on {host} has used {value}% CPU for {duration} (threshold {threshold}%).\n\n" + _CONTAINER_FOOTER
    ),
    Kind.CONTAINER_MEMORY: (
        "{container} on {host} has used {value}% of its {memory_limit} memory limit for {duration} "
        "(threshold {threshold}%).\n\n" + _CONTAINER_FOOTER
    ),
    Kind.HOST_CPU: (
        "{host} has used {value}% CPU for {duration} (threshold {threshold}%).\n\n"
        "Top containers:\n{top_containers}\n\n{url}"
    ),
    Kind.HOST_MEMORY: (
        "{host} has used {value}% of its memory for {duration} (threshold {threshold}%).\n\n"
        "Top containers:\n{top_containers}\n\n{url}"
    ),
    Kind.HOST_OFFLINE: "DockMon cannot reach {host} ({state}).\nError: {error}\n\n{url}",
    Kind.HOST_DISK: "A file system of {host} is {value}% full (threshold {threshold}%).\n\n{url}",
    Kind.RESTART_GAVE_UP: (
        "Auto-restart stopped trying to restart {container} on {host} after {attempts} attempts.\n"
        "Last exit codes: {exit_codes}\nError: {error}\n\nLast log lines:\n{log_tail}\n\n" + _CONTAINER_FOOTER
    ),
}

# Values a rule's page uses to preview its messages.
SAMPLE_VARIABLES: dict[str, Any] = {
    "container": "web-1",
    "host": "prod-1",
    "image": "nginx:1.27",
    "state": "exited",
    "exit_code": 137,
    "exit_codes": [137, 1, 1],
    "value": 93.4,
    "threshold": 80,
    "duration": "5 min",
    "restarts": 5,
    "window": "10 min",
    "memory_limit": "512 MiB",
    "top_containers": "web-1 61%\nworker 22%\ndb 7%",
    "log_tail": "listening on :8080\npanic: connection refused",
    "check_url": "http://web-1:8080/health",
    "error": "connection refused",
    "attempts": 3,
    "url": "",
    "time": "2025-01-01 12:00",
}


class _Values(dict):
    """The mapping placeholders read from: a missing, None or empty value is shown as a dash."""

    def __missing__(self, name: str) -> str:
        return MISSING


def _text(value: Any) -> str:
    if value is None or value == "" or value == []:
        return MISSING
    if isinstance(value, float):
        return f"{value:.1f}".removesuffix(".0")
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


def _placeholders(text: str) -> Iterable[tuple[str, str | None, str | None]]:
    """(literal, field name, problem) per piece; ValueError for unbalanced braces."""
    for literal, name, spec, conversion in Formatter().parse(text):
        if name is None:
            yield literal, None, None
        elif not name.isidentifier():
            yield literal, name, f"{{{name}}} is not a plain variable name"
        elif spec or conversion:
            yield literal, name, f"{{{name}}} may not carry a format (“:{spec}” or “!{conversion}”)"
        else:
            yield literal, name, None


def validate_template(text: str) -> None:
    """Refuse what render_message would not render: unbalanced braces, attribute or index access,
    formats, unknown variables (listed, with the known ones)."""
    try:
        pieces = list(_placeholders(text))
    except ValueError as error:
        raise ValidationError(
            f"The template has a stray brace ({error}). Write {{{{ and }}}} for literal braces."
        ) from None
    problems = [problem for _, _, problem in pieces if problem]
    if problems:
        raise ValidationError(f"{problems[0]}: only {{name}} placeholders are allowed.")
    unknown = sorted({name for _, name, _ in pieces if name is not None and name not in VARIABLES})
    if unknown:
        raise ValidationError(
            f"Unknown variable{'s' if len(unknown) > 1 else ''} {', '.join('{' + n + '}' for n in unknown)}. "
            f"Known: {', '.join(VARIABLES)}."
        )


def _render(text: str, values: Mapping[str, str]) -> str:
    return "".join(literal + (values[name] if name is not None else "") for literal, name, _ in _placeholders(text))


def _valid(text: str) -> bool:
    try:
        validate_template(text)
    except ValidationError:
        return False
    return True


def render_message(rule: AlertRule, variables: Mapping[str, Any]) -> tuple[str, str]:
    """(title, body) for a notification of this rule. Never raises: a stored template that is not valid
    (saved before a variable was renamed, say) falls back to the kind's default."""
    values = _Values({"rule": rule.name, "severity": rule.get_severity_display()})
    values.update({name: _text(value) for name, value in variables.items()})
    title_template = rule.title_template if rule.title_template and _valid(rule.title_template) else None
    body_template = rule.body_template if rule.body_template and _valid(rule.body_template) else None
    title = _render(title_template or DEFAULT_TITLES[rule.kind], values)
    body = _render(body_template or DEFAULT_BODIES[rule.kind], values)
    return " ".join(title.split()), body.strip()


def sample_message(rule: AlertRule) -> tuple[str, str]:
    """The rule's messages rendered with made-up values, for its page."""
    return render_message(rule, SAMPLE_VARIABLES | {"url": _external(reverse("containers:detail", args=[1]))})


def _external(path: str) -> str:
    return settings.EXTERNAL_URL.rstrip("/") + path


def container_url(container: Container) -> str:
    return _external(reverse("containers:detail", args=[container.pk]))


def host_url(host: Host) -> str:
    return _external(reverse("hosts:detail", args=[host.pk]))


def format_duration(seconds: float | None) -> str:
    """The {duration} and {window} variables: “45 s”, “5 min”, “1 h 30 min”; “—” when unknown."""
    return MISSING if seconds is None else duration_words(seconds)
