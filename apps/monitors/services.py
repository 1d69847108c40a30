"""Health checks: running them, judging them against their thresholds, restarting what stays unhealthy,
scheduling, label-made checks and history retention. Views and tasks call these; the HTTP work is in probe.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.containers.models import Container
from apps.containers.services import RestartLimitReached, system_restart
from apps.core.audit import record
from apps.core.models import Event
from apps.core.signals import announce
from apps.monitors import probe
from apps.monitors.models import LABEL, RESULT_RETENTION, CheckResult, HealthCheck
from apps.monitors.signals import check_status_changed
from dockmon_agent.engine.base import Action, EngineError

logger = logging.getLogger(__name__)

STATE_FIELDS = [
    "status",
    "status_changed_at",
    "consecutive_failures",
    "consecutive_successes",
    "last_checked_at",
    "last_response_ms",
    "last_status_code",
    "last_error",
    "restarts_in_episode",
    "next_restart_at",
]


def spec_for(check: HealthCheck) -> probe.ProbeSpec:
    return probe.ProbeSpec(
        url=check.url,
        method=check.method,
        expected=probe.parse_statuses(check.expected_statuses),
        keyword=check.keyword,
        headers=probe.parse_headers(check.headers),
        auth_kind=check.auth_kind,
        username=check.auth_username,
        secret=check.auth_secret,
        timeout=check.timeout_seconds,
        follow_redirects=check.follow_redirects,
        verify_tls=check.verify_tls,
    )


def _outcome(check: HealthCheck, resolver: probe.Resolver) -> probe.ProbeOutcome:
    try:
        spec = spec_for(check)
    except ValueError as error:  # stored before a rule got stricter, or edited outside the forms
        return probe.ProbeOutcome(False, error=f"The check is misconfigured: {error}")
    return probe.probe(spec, resolver=resolver)


def _judge(check: HealthCheck, outcome: probe.ProbeOutcome, now: datetime) -> bool:
    """Count the result and move the verdict by the thresholds; True when it changed between healthy and
    unhealthy (a first verdict of healthy is no news)."""
    old = check.status
    if outcome.ok:
        check.consecutive_successes += 1
        check.consecutive_failures = 0
        if old != HealthCheck.Status.HEALTHY and check.consecutive_successes >= check.success_threshold:
            check.status = HealthCheck.Status.HEALTHY
    else:
        check.consecutive_failures += 1
        check.consecutive_successes = 0
        if old != HealthCheck.Status.UNHEALTHY and check.consecutive_failures >= check.failure_threshold:
            check.status = HealthCheck.Status.UNHEALTHY
    check.last_checked_at = now
    check.last_response_ms = outcome.response_ms
    check.last_status_code = outcome.status_code
    check.last_error = outcome.error[:500]
    if check.status == old:
        return False
    check.status_changed_at = now
    # A new episode either way: restarts are counted from turning unhealthy, the first one right away.
    check.restarts_in_episode = 0
    check.next_restart_at = now if check.status == HealthCheck.Status.UNHEALTHY else None
    return old != HealthCheck.Status.UNKNOWN or check.status == HealthCheck.Status.UNHEALTHY


def _announce_verdict(check: HealthCheck, error: str) -> None:
    healthy = check.status == HealthCheck.Status.HEALTHY
    container = check.container
    record(
        Event.ActorKind.SYSTEM,
        "monitors.healthy" if healthy else "monitors.unhealthy",
        container,
        host=container.host,
        severity=Event.Severity.INFO if healthy else Event.Severity.WARNING,
        message=f"{check.url} is healthy again" if healthy else f"{check.url}: {error}",
        details={"check": check.pk, "url": check.url, "error": error},
    )
    transaction.on_commit(
        lambda: announce(check_status_changed, HealthCheck, check=check, healthy=healthy, error=error)
    )


def run_check(
    check: HealthCheck, *, now: datetime | None = None, resolver: probe.Resolver = probe.resolve
) -> CheckResult | None:
    """Probe once, keep the result and move the verdict. None when the check was deleted meanwhile."""
    outcome = _outcome(check, resolver)
    now = now or timezone.now()
    with transaction.atomic():
        # Counters as they are now: a "Test now" may have run while this probe was waiting for an answer.
        fresh = HealthCheck.objects.select_for_update().select_related("container__host").filter(pk=check.pk).first()
        if fresh is None:
            return None
        result = CheckResult.objects.create(
            health_check=fresh,
            checked_at=now,
            ok=outcome.ok,
            status_code=outcome.status_code,
            response_ms=outcome.response_ms,
            error=outcome.error[:500],
        )
        if _judge(fresh, outcome, now):
            _announce_verdict(fresh, outcome.error)
        fresh.save(update_fields=STATE_FIELDS)
    return result


# --- restart on unhealthy ----------------------------------------------------------------------------


def _leave_alone(container: Container) -> str:
    """Why DockMon must not restart this container by itself ("" when it may)."""
    if container.is_removed:
        return "it no longer exists"
    if container.stopped_by_user:
        return "a user stopped it through DockMon"
    if container.desired_state == Container.DesiredState.ON_DEMAND:
        return "it runs on demand"
    return ""


def restart_if_due(check: HealthCheck, *, now: datetime | None = None) -> bool:
    """Restart the container of an unhealthy check when its episode allows another attempt now.

    Each attempt is claimed with a conditional update, so it happens once even if two workers get here.
    System restarts of one container are capped (12 in 10 minutes) by `system_restart` itself.
    """
    now = now or timezone.now()
    check = HealthCheck.objects.select_related("container__host").get(pk=check.pk)
    if not (
        check.restart_on_unhealthy
        and check.status == HealthCheck.Status.UNHEALTHY
        and check.restarts_in_episode < check.restart_attempts
        and check.next_restart_at is not None
        and check.next_restart_at <= now
    ):
        return False
    container = check.container
    if why_not := _leave_alone(container):
        logger.info("Not restarting %s for its failing check: %s", container.name, why_not)
        return False
    attempt = check.restarts_in_episode + 1
    last = attempt >= check.restart_attempts
    claimed = HealthCheck.objects.filter(
        pk=check.pk, status=HealthCheck.Status.UNHEALTHY, restarts_in_episode=check.restarts_in_episode
    ).update(
        restarts_in_episode=attempt,
        next_restart_at=None if last else now + timedelta(seconds=check.restart_delay_seconds),
    )
    if not claimed:
        return False
    reason = f"Health check {check.url} failing ({check.last_error}); attempt {attempt} of {check.restart_attempts}"
    try:
        system_restart(container, reason=reason, action=Action.RESTART)
    except RestartLimitReached as error:
        record(
            Event.ActorKind.AUTO_RESTART,
            "monitors.restart_refused",
            container,
            host=container.host,
            severity=Event.Severity.WARNING,
            message=str(error),
            details={"check": check.pk, "url": check.url, "attempt": attempt},
        )
        HealthCheck.objects.filter(pk=check.pk).update(restarts_in_episode=check.restart_attempts, next_restart_at=None)
        return False
    except EngineError:
        return False  # container_act put the failure, with Docker's words, into the audit trail
    return True


# --- scheduling --------------------------------------------------------------------------------------


def claim(check_pk: int, due_at: datetime, interval_seconds: int, *, now: datetime) -> bool:
    """Take one due run of a check: only the caller whose UPDATE still sees `due_at` wins it."""
    return bool(
        HealthCheck.objects.filter(pk=check_pk, enabled=True, next_check_at=due_at).update(
            next_check_at=now + timedelta(seconds=interval_seconds)
        )
    )


def claim_due(*, now: datetime | None = None) -> dict[int, int]:
    """The checks due now that this caller claimed (moved one interval on), with their intervals in
    seconds; queue exactly these."""
    now = now or timezone.now()
    due = HealthCheck.objects.filter(enabled=True, next_check_at__lte=now).values_list(
        "pk", "next_check_at", "interval_seconds"
    )
    return {pk: interval for pk, due_at, interval in due if claim(pk, due_at, interval, now=now)}


def purge_results(*, now: datetime | None = None) -> int:
    deleted, _ = CheckResult.objects.filter(checked_at__lt=(now or timezone.now()) - RESULT_RETENTION).delete()
    return deleted


# --- checks made and changed by users ----------------------------------------------------------------


def check_save(*, actor, check: HealthCheck, changed: Iterable[str] = (), request: HttpRequest | None = None) -> None:
    """Save a check from the form and audit it (names of changed fields only: never the secret)."""
    created = check.pk is None
    if created:
        check.next_check_at = timezone.now()
    check.save()
    record(
        actor,
        "monitors.check_create" if created else "monitors.check_update",
        check.container,
        host=check.container.host,
        message=str(check),
        details={"check": check.pk, "url": check.url, **({} if created else {"changed": sorted(changed)})},
        request=request,
    )


def check_delete(*, actor, check: HealthCheck, request: HttpRequest | None = None) -> None:
    details = {"check": check.pk, "url": check.url}
    check.delete()
    record(
        actor,
        "monitors.check_delete",
        check.container,
        host=check.container.host,
        message=str(check),
        details=details,
        request=request,
    )


# --- label-made checks -------------------------------------------------------------------------------


def sync_label_checks(containers: Iterable[Container]) -> None:
    """Make each container's label-made check match its `dockmon.healthcheck.url` label.

    Quick (called from signal receivers): no DNS here; the probe refuses metadata addresses when it runs.
    A removed container keeps its check, so the check is there again when the container is recreated.
    """
    rows = {row.pk: row for row in containers if not row.is_removed}
    if not rows:
        return
    existing = {c.container_id: c for c in HealthCheck.objects.filter(container_id__in=rows, from_label=True)}
    for pk, row in rows.items():
        url = str((row.labels or {}).get(LABEL, "")).strip()
        check = existing.get(pk)
        if url:
            try:
                probe.check_url(url, resolver=None)
            except probe.Refused as refused:
                logger.warning("Label %s on %s is not used: %s", LABEL, row.name, refused)
                url = ""
        if not url:
            if check is not None:
                details = {"check": check.pk, "url": check.url, "from_label": True}
                check.delete()
                record(
                    Event.ActorKind.SYSTEM,
                    "monitors.check_delete",
                    row,
                    host=row.host,
                    message=f"{check} (its label is gone)",
                    details=details,
                )
        elif check is None:
            created, made = HealthCheck.objects.get_or_create(container=row, from_label=True, defaults={"url": url})
            if made:
                record(
                    Event.ActorKind.SYSTEM,
                    "monitors.check_create",
                    row,
                    host=row.host,
                    message=f"{created} (from the container's label)",
                    details={"check": created.pk, "url": url, "from_label": True},
                )
        elif check.url != url:
            old = check.url
            check.url, check.next_check_at = url, timezone.now()
            check.save(update_fields=["url", "next_check_at", "updated_at"])
            record(
                Event.ActorKind.SYSTEM,
                "monitors.check_update",
                row,
                host=row.host,
                message=f"{check} (the container's label changed)",
                details={"check": check.pk, "url": url, "old_url": old, "from_label": True},
            )
