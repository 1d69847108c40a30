"""Auto-restart's decisions: a container that should run and exits is started again after a growing delay,
until its policy's attempts are used up; then DockMon gives up and says so.

Exits arrive from Docker's events (`on_container_events`) and, as a safety net, from the periodic `reconcile`.
Every change of a policy's state is claimed with a conditional UPDATE, so the same exit reported twice (by the
event and the reconcile, or an event replayed after a reconnect) is counted once, and a queued attempt whose
moment is no longer the scheduled one does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.autorestart.models import EXIT_CODES_KEPT, AutoRestartSettings, RestartPolicy
from apps.autorestart.signals import restart_gave_up, restart_recovered
from apps.containers import inventory
from apps.containers.models import Container
from apps.containers.services import system_restart
from apps.containers.signals import Happening
from apps.core.audit import Actor, record
from apps.core.formatting import duration_words
from apps.core.models import Event
from apps.core.redis_client import held_alone
from apps.core.signals import announce
from apps.hosts.engines import engine_for
from dockmon_agent.engine.base import Action, EngineError

ACTOR = Event.ActorKind.AUTO_RESTART
EXITED_STATES = (Container.State.EXITED, Container.State.DEAD)
# Docker restarts these itself: a second restarter would only fight it.
DOCKER_RESTART_POLICIES = {"always", "unless-stopped", "on-failure"}
# `docker kill` ends a container on purpose just like `docker stop` (Docker's unless-stopped honours both);
# other signals (HUP to reload) do not mean "stay down".
DELIBERATE_KILL_SIGNALS = {"2", "9", "15", "SIGINT", "SIGKILL", "SIGTERM", "INT", "KILL", "TERM"}
ATTEMPT_LOCK_SECONDS = 120
# A scheduled attempt this far past its time was lost (a worker or the broker restarted): queue it again.
OVERDUE_SECONDS = 60


def _trail(container: Container, action: str, *, actor: Actor = ACTOR, **fields: Any) -> None:
    """Write an `autorestart.*` entry on the container's audit trail, under its host; by auto-restart unless said."""
    record(actor, action, container, host=container.host, **fields)


def docker_restarts_it(container: Container) -> bool:
    return container.restart_policy.split(":", 1)[0] in DOCKER_RESTART_POLICIES


def left_alone_because(policy: RestartPolicy) -> str:
    """Why auto-restart stays out of this container's way, as a sentence; empty when it does not."""
    container = policy.container
    if container.is_removed:
        return "The container no longer exists."
    if docker_restarts_it(container):
        return (
            f"Docker's own restart policy (“{container.restart_policy}”) restarts this container, "
            "so DockMon stays out of the way."
        )
    if container.desired_state == Container.DesiredState.ON_DEMAND:
        return "It runs on demand: a stop is normal, so it is not restarted."
    if container.stopped_by_user:
        return "A user stopped it through DockMon: it is left alone until it runs again."
    if policy.held_since is not None:
        return "It was stopped outside DockMon (docker stop or kill): it is left alone until it runs again."
    return ""


def exit_words(container: Container, code: int | None) -> str:
    if container.oom_killed:
        return f"was killed for running out of memory (exit code {code})"
    return "exited" if code is None else f"exited with code {code}"


# --- policies ------------------------------------------------------------------------------------


def _defaults_for(container: Container, settings: AutoRestartSettings) -> dict:
    # The default for new containers applies to containers first seen after it was set, never to older ones.
    new = container.first_seen >= settings.defaults_changed_at
    return {"enabled": settings.enabled_for_new and new, "max_attempts": settings.default_max_attempts}


def ensure_policies(containers: Iterable[Container]) -> None:
    """Give containers seen for the first time their policy, with the defaults of the moment."""
    by_pk = {container.pk: container for container in containers if container.pk is not None}
    have = set(RestartPolicy.objects.filter(container_id__in=by_pk).values_list("container_id", flat=True))
    missing = [container for pk, container in by_pk.items() if pk not in have]
    if missing:
        settings = AutoRestartSettings.load()
        RestartPolicy.objects.bulk_create(
            [RestartPolicy(container=container, **_defaults_for(container, settings)) for container in missing],
            ignore_conflicts=True,
        )


def policy_for(container: Container) -> RestartPolicy:
    """The container's policy; one is made on the spot for a row that has none yet (seen before this app ran)."""
    policy = RestartPolicy.objects.filter(container=container).first()
    if policy is None:
        ensure_policies([container])
        policy = RestartPolicy.objects.get(container=container)
    policy.container = container
    return policy


# --- exits ---------------------------------------------------------------------------------------


def on_container_events(happenings: list[Happening]) -> None:
    """Docker's news, in order: exits are counted, deliberate stops hold the container, a start frees it."""
    ensure_policies(happening.container for happening in happenings)
    for happening in happenings:
        container = happening.container
        if happening.action == "die":
            policy = policy_for(container)
            if happening.by_dockmon:
                continue  # part of a stop, kill or restart DockMon made (a user's, or a health check's)
            exit_seen(policy, code=happening.exit_code, finished_at=container.finished_at or happening.time)
        elif happening.action == "start":
            RestartPolicy.objects.filter(container=container, held_since__isnull=False).update(held_since=None)
        elif not happening.by_dockmon and _deliberate(happening):
            hold(policy_for(container))


def _deliberate(happening: Happening) -> bool:
    if happening.action == "stop":
        return True
    return happening.action == "kill" and str(happening.attributes.get("signal", "")) in DELIBERATE_KILL_SIGNALS


def hold(policy: RestartPolicy) -> None:
    """Stopped on purpose outside DockMon: cancel what is pending and leave the container down."""
    now = timezone.now()
    pending = policy.next_attempt_at is not None
    RestartPolicy.objects.filter(pk=policy.pk).update(held_since=now, next_attempt_at=None, updated_at=now)
    policy.held_since, policy.next_attempt_at = now, None
    if pending:
        container = policy.container
        _trail(
            container,
            "autorestart.cancelled",
            message=f"{container.name} was stopped outside DockMon: the pending attempt is cancelled.",
        )


def exit_seen(policy: RestartPolicy, *, code: int | None, finished_at: datetime) -> bool:
    """The container exited: count the exit, then schedule the next attempt or give up. True when it counted."""
    container = policy.container
    if (
        not policy.enabled
        or policy.gave_up_at is not None
        or policy.next_attempt_at is not None
        or container.state not in EXITED_STATES
        or left_alone_because(policy)
    ):
        return False
    # One UPDATE claims the exit: whoever loses (or sees it a second time) leaves it alone.
    claimed = (
        RestartPolicy.objects.filter(pk=policy.pk, next_attempt_at=None, gave_up_at=None)
        .exclude(last_exit_at=finished_at)
        .update(last_exit_at=finished_at)
    )
    if not claimed:
        return False
    policy.refresh_from_db()
    policy.container = container
    if code is not None:
        policy.exit_codes = [*policy.exit_codes, code][-EXIT_CODES_KEPT:]
    what = exit_words(container, code)
    if policy.attempts >= policy.max_attempts:
        give_up(policy, error=what)
    else:
        schedule(policy, why=f"{container.name} {what}")
    return True


def schedule(policy: RestartPolicy, *, why: str) -> None:
    """Queue the next attempt after the back-off delay; `why` starts the trail's sentence."""
    from apps.autorestart.tasks import attempt_restart  # the task module imports this one

    container = policy.container
    attempt = policy.attempts + 1
    delay = AutoRestartSettings.load().delay_before(attempt)
    policy.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    policy.save(update_fields=["exit_codes", "next_attempt_at", "last_error", "updated_at"])
    codes = list(policy.exit_codes)
    _trail(
        container,
        "autorestart.scheduled",
        severity=Event.Severity.WARNING,
        message=f"{why}; attempt {attempt} of {policy.max_attempts} in {duration_words(delay)}.",
        details={"attempt": attempt, "of": policy.max_attempts, "delay_seconds": delay, "exit_codes": codes},
    )
    moment = policy.next_attempt_at.isoformat()
    transaction.on_commit(lambda: attempt_restart.apply_async((policy.pk, moment), countdown=delay))


def give_up(policy: RestartPolicy, *, error: str) -> None:
    """No attempt left: record it and tell the alerts. `error` says what went wrong last, without the name."""
    container = policy.container
    policy.gave_up_at, policy.next_attempt_at, policy.last_error = timezone.now(), None, error[:500]
    policy.save(update_fields=["exit_codes", "gave_up_at", "next_attempt_at", "last_error", "updated_at"])
    codes = list(policy.exit_codes)
    attempts = policy.attempts
    plural = "" if attempts == 1 else "s"
    listed = f"; exit codes {', '.join(map(str, codes))}" if codes else ""
    _trail(
        container,
        "autorestart.gave_up",
        severity=Event.Severity.ERROR,
        message=f"Gave up on {container.name} after {attempts} attempt{plural} (last: {error}{listed}).",
        details={"attempts": attempts, "exit_codes": codes, "error": error},
    )
    transaction.on_commit(
        lambda: announce(
            restart_gave_up, Container, container=container, attempts=attempts, exit_codes=codes, error=error
        )
    )


# --- attempts ------------------------------------------------------------------------------------


def run_attempt(policy_pk: int, scheduled_for: datetime) -> str:
    """Start the container if the attempt queued for `scheduled_for` is still due; says what it did.

    Re-checks everything against Docker first: a duplicate or stale task, a container started meanwhile,
    stopped by a user or switched off all end in doing nothing.
    """
    with held_alone(f"autorestart:{policy_pk}", ATTEMPT_LOCK_SECONDS) as alone:
        if not alone:
            return "busy"
        policy = RestartPolicy.objects.select_related("container__host").filter(pk=policy_pk).first()
        if policy is None or policy.next_attempt_at != scheduled_for:
            return "stale"
        container = policy.container
        attempt = policy.attempts + 1
        try:
            with engine_for(container.host) as engine:
                container = inventory.refresh(container.host, engine, container.docker_id) or container
        except EngineError as error:
            return _attempt_failed(policy, attempt, str(error))
        policy.container = container
        if not _still_down_and_wanted(policy):
            RestartPolicy.objects.filter(pk=policy.pk, next_attempt_at=scheduled_for).update(next_attempt_at=None)
            return "not needed"
        code = policy.exit_codes[-1] if policy.exit_codes else None
        if policy.attempts >= policy.max_attempts:  # the maximum was lowered while it waited
            give_up(policy, error=exit_words(container, code))
            return "gave up"
        now = timezone.now()
        claimed = RestartPolicy.objects.filter(pk=policy.pk, next_attempt_at=scheduled_for).update(
            attempts=attempt, last_attempt_at=now, next_attempt_at=None, updated_at=now
        )
        if not claimed:
            return "stale"
        policy.attempts, policy.last_attempt_at, policy.next_attempt_at = attempt, now, None
        reason = f"auto-restart attempt {attempt} of {policy.max_attempts} ({exit_words(container, code)})"
        try:
            system_restart(container, reason=reason, action=Action.START)
        except EngineError as error:  # RestartLimitReached too: it counts as a failed attempt
            return _attempt_failed(policy, attempt, str(error))
        _trail(
            container,
            "autorestart.attempt",
            message=f"Attempt {attempt} of {policy.max_attempts}: started {container.name}.",
            details={"attempt": attempt, "of": policy.max_attempts, "result": "started"},
        )
        return "started"


def _still_down_and_wanted(policy: RestartPolicy) -> bool:
    return (
        policy.enabled
        and policy.gave_up_at is None
        and policy.container.state in EXITED_STATES
        and not left_alone_because(policy)
    )


def _attempt_failed(policy: RestartPolicy, attempt: int, error: str) -> str:
    container = policy.container
    now = timezone.now()
    RestartPolicy.objects.filter(pk=policy.pk).update(
        attempts=attempt, last_attempt_at=now, next_attempt_at=None, last_error=error[:500], updated_at=now
    )
    policy.attempts, policy.last_attempt_at, policy.next_attempt_at, policy.last_error = attempt, now, None, error[:500]
    _trail(
        container,
        "autorestart.attempt",
        severity=Event.Severity.WARNING,
        message=f"Attempt {attempt} of {policy.max_attempts} failed: {error}",
        details={"attempt": attempt, "of": policy.max_attempts, "result": "failed", "error": error},
    )
    if attempt >= policy.max_attempts:
        give_up(policy, error=error)
    else:
        schedule(policy, why=f"Could not start {container.name} ({error})")
    return "failed"


# --- the safety net --------------------------------------------------------------------------------


def reset(policy: RestartPolicy, *, actor: Actor, why: str, request: HttpRequest | None = None) -> None:
    """Start a new episode: every attempt available again, nothing pending, not given up."""
    container = policy.container
    attempts, gave_up = policy.attempts, policy.gave_up_at is not None
    RestartPolicy.objects.filter(pk=policy.pk).update(
        attempts=0, exit_codes=[], last_exit_at=None, next_attempt_at=None, gave_up_at=None, last_error=""
    )
    policy.refresh_from_db()
    policy.container = container
    _trail(
        container,
        "autorestart.reset",
        message=why,
        details={"attempts": attempts, "gave_up": gave_up},
        request=request,
        actor=actor,
    )


def reconcile(*, now: datetime | None = None) -> dict[str, int]:
    """Beat's safety net: exits nobody reported get their attempt, lost attempts are queued again, and
    containers that stayed up start afresh. Returns how many of each."""
    from apps.autorestart.tasks import attempt_restart  # the task module imports this one

    now = now or timezone.now()
    settings = AutoRestartSettings.load()
    done = {"scheduled": 0, "requeued": 0, "reset": 0}

    unreported = RestartPolicy.objects.select_related("container__host").filter(
        enabled=True,
        gave_up_at=None,
        next_attempt_at=None,
        held_since=None,
        container__state__in=EXITED_STATES,
        container__desired_state=Container.DesiredState.SHOULD_RUN,
        container__stopped_by_user=False,
    )
    for policy in unreported:
        container = policy.container
        finished_at = container.finished_at or container.state_changed_at
        done["scheduled"] += exit_seen(policy, code=container.exit_code, finished_at=finished_at)

    overdue = RestartPolicy.objects.filter(next_attempt_at__lt=now - timedelta(seconds=OVERDUE_SECONDS))
    for pk, moment in overdue.values_list("pk", "next_attempt_at"):
        attempt_restart.apply_async((pk, moment.isoformat()), expires=OVERDUE_SECONDS)  # never a backlog of them
        done["requeued"] += 1

    running = RestartPolicy.objects.select_related("container__host").filter(container__state=Container.State.RUNNING)
    RestartPolicy.objects.filter(pk__in=running.filter(held_since__isnull=False)).update(held_since=None)
    stable = running.filter(
        container__started_at__lte=now - timedelta(seconds=settings.stable_after_seconds), last_exit_at__isnull=False
    )
    for policy in stable:
        if policy.attempts or policy.gave_up_at:
            stayed = duration_words(settings.stable_after_seconds)
            why = f"{policy.container.name} stayed up for {stayed}: all attempts available again."
            reset(policy, actor=ACTOR, why=why)
            announce(restart_recovered, Container, container=policy.container)
            done["reset"] += 1
        else:  # exited once but was started by someone before the first attempt: nothing to report
            RestartPolicy.objects.filter(pk=policy.pk).update(exit_codes=[], last_exit_at=None, last_error="")
    return done
