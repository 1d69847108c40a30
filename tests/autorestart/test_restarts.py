"""Auto-restart against real containers, the real events listener and a real Celery worker."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
from django.utils import timezone

from apps.autorestart import restarter, tasks
from apps.autorestart.models import RestartPolicy
from apps.containers.models import Container
from apps.containers.services import container_act
from apps.core.models import Event
from apps.core.redis_client import held_alone
from dockmon_agent.engine.base import Action
from tests.dockerenv.image import READY_MARK
from tests.dockerenv.plugin import wait_for_log
from tests.fixtures import synced, wait_until
from tests.scenarios import watched

pytestmark = pytest.mark.django_db(transaction=True)


def trail(row: Container, action: str) -> list[Event]:
    return list(Event.objects.filter(target_type="container", target_id=str(row.pk), action=action).order_by("id"))


def nothing_scheduled(row: Container) -> bool:
    policy = RestartPolicy.objects.get(container=row)
    return policy.next_attempt_at is None and not trail(row, "autorestart.scheduled")


def test_a_crashing_container_is_restarted_with_growing_delays_then_given_up(
    local_host, fast_restarts, create_container, follow, celery_worker, gave_up, client_for, viewer
):
    crashing = create_container("exit", "1", "1", name="crashy")  # exits with code 1 one second after each start
    row = synced(local_host, crashing.name)
    watched(row, desired_state=Container.DesiredState.SHOULD_RUN)
    follow(local_host)
    crashing.start()

    wait_until(lambda: trail(row, "autorestart.gave_up"), timeout=45)

    scheduled, attempts = trail(row, "autorestart.scheduled"), trail(row, "autorestart.attempt")
    assert [event.details["delay_seconds"] for event in scheduled] == [1, 2, 4]
    assert [event.details["result"] for event in attempts] == ["started"] * 3
    # Each attempt came its delay after the exit that caused it, and the gaps between attempts grow.
    pairs = zip(scheduled, attempts, strict=True)
    waited = [(attempt.timestamp - exit_.timestamp).total_seconds() for exit_, attempt in pairs]
    assert all(seconds >= delay - 0.05 for seconds, delay in zip(waited, [1, 2, 4], strict=True)), waited
    gaps = [(later.timestamp - earlier.timestamp).total_seconds() for earlier, later in pairwise(attempts)]
    assert gaps[1] > gaps[0] + 1, gaps
    starts = [event for event in trail(row, "containers.start") if event.actor_kind == "auto_restart"]
    assert [event.message for event in starts] == [
        f"auto-restart attempt {n} of 3 (exited with code 1)" for n in (1, 2, 3)
    ]

    given_up = trail(row, "autorestart.gave_up")[0]
    assert given_up.severity == "error"
    assert given_up.message == (
        f"Gave up on {crashing.name} after 3 attempts (last: exited with code 1; exit codes 1, 1, 1, 1)."
    )
    wait_until(lambda: gave_up)  # announced once the worker's transaction committed
    assert len(gave_up) == 1
    assert gave_up[0]["container"].pk == row.pk
    assert (gave_up[0]["attempts"], gave_up[0]["exit_codes"]) == (3, [1, 1, 1, 1])
    assert gave_up[0]["error"] == "exited with code 1"

    crashing.reload()
    assert crashing.status == "exited"
    card = client_for(viewer).get(f"/auto-restart/containers/{row.pk}/").content.decode()
    assert "after 3 attempts (exit codes 1, 1, 1, 1)" in card and "Gave up at" in card


def test_a_container_stopped_by_a_user_through_dockmon_stays_down(
    local_host, fast_restarts, run_container, follow, seen_events, operator
):
    c = run_container(name="steady")
    wait_for_log(c, READY_MARK)
    row = synced(local_host, c.name)
    watched(row)
    follow(local_host)
    container_act(actor=operator, container=row, action=Action.STOP)
    wait_until(lambda: (row.pk, "stop") in seen_events)
    assert nothing_scheduled(row)
    assert restarter.reconcile()["scheduled"] == 0
    assert nothing_scheduled(row)
    c.reload()
    assert c.status == "exited"


def test_an_on_demand_container_that_exits_stays_down(
    local_host, fast_restarts, create_container, follow, seen_events, client_for, viewer
):
    batch = create_container("exit", "1", "1", name="batch")
    row = synced(local_host, batch.name)
    watched(row, desired_state=Container.DesiredState.ON_DEMAND)
    follow(local_host)
    batch.start()
    wait_until(lambda: (row.pk, "die") in seen_events)
    assert nothing_scheduled(row)
    assert restarter.reconcile()["scheduled"] == 0
    card = client_for(viewer).get(f"/auto-restart/containers/{row.pk}/").content.decode()
    assert "It runs on demand: a stop is normal, so it is not restarted." in card


def test_docker_stop_outside_dockmon_is_a_deliberate_stop(
    local_host, fast_restarts, run_container, follow, seen_events, client_for, viewer
):
    c = run_container(name="outside")
    wait_for_log(c, READY_MARK)
    row = synced(local_host, c.name)
    watched(row)
    follow(local_host)
    c.stop(timeout=5)  # the Docker API itself, as `docker stop` would
    wait_until(lambda: (row.pk, "stop") in seen_events)
    assert nothing_scheduled(row)
    assert RestartPolicy.objects.get(container=row).held_since is not None
    assert restarter.reconcile()["scheduled"] == 0
    card = client_for(viewer).get(f"/auto-restart/containers/{row.pk}/").content.decode()
    assert "It was stopped outside DockMon (docker stop or kill)" in card

    c.start()  # started again: a later exit is news again
    wait_until(lambda: RestartPolicy.objects.get(container=row).held_since is None)


def test_a_pending_attempt_is_cancelled_by_a_stop_outside_dockmon(
    local_host, fast_restarts, create_container, follow, seen_events
):
    fast_restarts.first_delay_seconds = fast_restarts.max_delay_seconds = 60  # stays pending while we act
    fast_restarts.save()
    crashing = create_container("exit", "3", "2", name="pending")
    row = synced(local_host, crashing.name)
    watched(row, desired_state=Container.DesiredState.SHOULD_RUN)
    follow(local_host)
    crashing.start()
    wait_until(lambda: RestartPolicy.objects.get(container=row).next_attempt_at is not None)
    scheduled = wait_until(lambda: trail(row, "autorestart.scheduled"))[0]  # audited just after the policy
    assert scheduled.message == f"{crashing.name} exited with code 3; attempt 1 of 3 in 1 min."
    # Someone outside DockMon starts it and stops it again: they want it down.
    crashing.start()
    crashing.stop(timeout=1)
    wait_until(lambda: trail(row, "autorestart.cancelled"))
    assert RestartPolicy.objects.get(container=row).next_attempt_at is None


def test_the_reconcile_picks_up_a_container_that_died_while_nobody_listened(
    local_host, fast_restarts, create_container, celery_worker
):
    crashing = create_container("exit", "2", "0", name="unheard")
    row = synced(local_host, crashing.name)
    watched(row, desired_state=Container.DesiredState.SHOULD_RUN)
    crashing.start()
    wait_until(lambda: crashing.reload() or crashing.status == "exited")
    row = synced(local_host, crashing.name)  # the periodic sync sees it down; no event reached auto-restart
    assert row.state == "exited" and nothing_scheduled(row)

    assert tasks.reconcile() == {"scheduled": 1, "requeued": 0, "reset": 0}
    assert tasks.reconcile()["scheduled"] == 0  # the same exit counts once
    assert trail(row, "autorestart.scheduled")[0].details["exit_codes"] == [2]
    wait_until(lambda: trail(row, "autorestart.attempt"), timeout=15)
    assert trail(row, "autorestart.attempt")[0].details["result"] == "started"
    start = Event.objects.get(action="containers.start", target_id=str(row.pk), actor_kind="auto_restart")
    assert start.message == "auto-restart attempt 1 of 3 (exited with code 2)"


def test_the_counter_starts_afresh_once_the_container_stayed_up(local_host, run_container, recovered):
    c = run_container(name="healed")
    row = synced(local_host, c.name)
    policy = watched(row)
    RestartPolicy.objects.filter(pk=policy.pk).update(attempts=2, exit_codes=[1, 1], last_exit_at=timezone.now())

    # Not up for five minutes yet: nothing changes.
    assert restarter.reconcile()["reset"] == 0
    assert RestartPolicy.objects.get(pk=policy.pk).attempts == 2

    assert restarter.reconcile(now=row.started_at + timedelta(seconds=301))["reset"] == 1
    policy.refresh_from_db()
    assert (policy.attempts, policy.exit_codes, policy.last_exit_at) == (0, [], None)
    reset = trail(row, "autorestart.reset")[0]
    assert reset.message == f"{c.name} stayed up for 5 min: all attempts available again."
    assert reset.details == {"attempts": 2, "gave_up": False}
    assert [kwargs["container"].pk for kwargs in recovered] == [row.pk]


def test_a_stale_or_duplicate_attempt_does_nothing(local_host, run_container):
    c = run_container(name="twice")
    wait_for_log(c, READY_MARK)
    policy = watched(synced(local_host, c.name))  # first seen running: it should run
    c.kill()  # down, and nobody listening
    row = synced(local_host, c.name)
    moment = timezone.now()
    RestartPolicy.objects.filter(pk=policy.pk).update(next_attempt_at=moment, exit_codes=[137])

    assert tasks.attempt_restart(policy.pk, (moment - timedelta(seconds=1)).isoformat()) == "stale"
    with held_alone(f"autorestart:{policy.pk}", 10):
        assert tasks.attempt_restart(policy.pk, moment.isoformat()) == "busy"
    assert not trail(row, "containers.start")

    assert tasks.attempt_restart(policy.pk, moment.isoformat()) == "started"
    assert tasks.attempt_restart(policy.pk, moment.isoformat()) == "stale"
    c.reload()
    assert c.status == "running"
    assert len(trail(row, "containers.start")) == 1
    assert RestartPolicy.objects.get(pk=policy.pk).attempts == 1


def test_an_attempt_finds_the_container_running_again_and_does_nothing(local_host, run_container):
    c = run_container(name="back")
    row = synced(local_host, c.name)
    policy = watched(row)
    moment = timezone.now()
    # The row still says exited (stale); Docker knows better.
    Container.objects.filter(pk=row.pk).update(state=Container.State.EXITED)
    RestartPolicy.objects.filter(pk=policy.pk).update(next_attempt_at=moment)
    assert tasks.attempt_restart(policy.pk, moment.isoformat()) == "not needed"
    policy.refresh_from_db()
    assert (policy.attempts, policy.next_attempt_at) == (0, None)
    assert Container.objects.get(pk=row.pk).state == "running"
