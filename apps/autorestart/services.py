"""What users change about auto-restart: a container's policy, its reset, and the global settings. Audited."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils import timezone

from apps.autorestart import restarter
from apps.autorestart.models import AutoRestartSettings, RestartPolicy
from apps.core.audit import record
from apps.users.access import has_capability
from apps.users.capabilities import Capability

# Changing these is changing "the defaults for new containers": containers seen before keep what they had.
NEW_CONTAINER_DEFAULTS = ("enabled_for_new", "default_max_attempts")


def _require_operate(user) -> None:
    if not has_capability(user, Capability.CONTAINERS_OPERATE):
        raise PermissionDenied(f"You need the “{Capability.CONTAINERS_OPERATE}” permission for this.")


def _diff(row, changes: dict) -> dict:
    return {field: {"from": getattr(row, field), "to": value} for field, value in changes.items()
            if getattr(row, field) != value}  # fmt: skip


def policy_update(*, actor, policy: RestartPolicy, changes: dict, request: HttpRequest | None = None) -> RestartPolicy:
    """Turn auto-restart on or off, or change the attempts; an exited container is looked after at once."""
    _require_operate(actor)
    diff = _diff(policy, changes)
    if not diff:
        return policy
    for field, change in diff.items():
        setattr(policy, field, change["to"])
    fields = [*diff, "updated_at"]
    if not policy.enabled:
        policy.next_attempt_at = None  # a queued attempt finds nothing scheduled and does nothing
        fields.append("next_attempt_at")
    elif "enabled" in diff:
        policy.last_exit_at = None  # an exit from before counts now
        fields.append("last_exit_at")
    policy.save(update_fields=fields)
    container = policy.container
    record(actor, "autorestart.policy", container, host=container.host, details=diff, request=request)
    if policy.enabled and container.state in restarter.EXITED_STATES:
        restarter.exit_seen(policy, code=container.exit_code, finished_at=container.finished_at or timezone.now())
    return policy


def policy_reset(*, actor, policy: RestartPolicy, request: HttpRequest | None = None) -> RestartPolicy:
    """A user gives the container all its attempts again; one that is down is tried again after the first delay."""
    _require_operate(actor)
    restarter.reset(policy, actor=actor, why="Reset by a user: all attempts available again.", request=request)
    container = policy.container
    if policy.enabled and container.state in restarter.EXITED_STATES:
        restarter.exit_seen(policy, code=container.exit_code, finished_at=container.finished_at or timezone.now())
    return policy


def settings_update(*, actor, changes: dict, request: HttpRequest | None = None) -> AutoRestartSettings:
    row = AutoRestartSettings.load()
    diff = _diff(row, changes)
    if not diff:
        return row
    for field, change in diff.items():
        setattr(row, field, change["to"])
    if any(field in diff for field in NEW_CONTAINER_DEFAULTS):
        row.defaults_changed_at = timezone.now()
    row.save()
    record(actor, "settings.change", row, details=diff, request=request)
    return row
