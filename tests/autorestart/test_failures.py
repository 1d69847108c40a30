"""An attempt that cannot start the container counts as a failed attempt, with its reason in the trail."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.autorestart import tasks
from apps.autorestart.models import RestartPolicy
from apps.containers.models import Container
from apps.containers.services import SYSTEM_RESTART_LIMIT
from apps.core.models import Event
from apps.hosts.models import Host
from tests.dockerenv.image import READY_MARK
from tests.dockerenv.plugin import wait_for_log
from tests.fixtures import synced
from tests.scenarios import watched

pytestmark = pytest.mark.django_db


def due(policy: RestartPolicy, exit_codes: list[int]) -> str:
    moment = timezone.now()
    RestartPolicy.objects.filter(pk=policy.pk).update(next_attempt_at=moment, exit_codes=exit_codes)
    return moment.isoformat()


def test_the_restart_limit_counts_as_a_failed_attempt_and_the_last_one_gives_up(
    local_host, run_container, gave_up, django_capture_on_commit_callbacks
):
    c = run_container(name="limited")
    wait_for_log(c, READY_MARK)
    policy = watched(synced(local_host, c.name), max_attempts=1)
    c.kill()
    row = synced(local_host, c.name)
    Event.objects.bulk_create(
        Event(actor_kind="auto_restart", category="containers", action="containers.start",
              target_type="container", target_id=str(row.pk))
        for _ in range(SYSTEM_RESTART_LIMIT)
    )  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):  # the gave-up signal goes out after the commit
        assert tasks.attempt_restart(policy.pk, due(policy, [137])) == "failed"

    limit = f"DockMon already restarted {c.name} {SYSTEM_RESTART_LIMIT} times in 10 minutes."
    attempt = Event.objects.get(action="autorestart.attempt")
    assert attempt.severity == "warning" and attempt.message == f"Attempt 1 of 1 failed: {limit}"
    given_up = Event.objects.get(action="autorestart.gave_up")
    assert given_up.message == f"Gave up on {c.name} after 1 attempt (last: {limit}; exit codes 137)."
    assert [(kw["attempts"], kw["exit_codes"], kw["error"]) for kw in gave_up] == [(1, [137], limit)]
    c.reload()
    assert c.status == "exited"


def test_an_unreachable_host_counts_as_a_failed_attempt_and_the_next_one_is_scheduled(db):
    host = Host.objects.create(name="gone", kind="socket", url="unix:///nonexistent/docker.sock")
    row = Container.objects.create(host=host, name="far", docker_id="f" * 64, state="exited", exit_code=1)
    policy = watched(row, desired_state=Container.DesiredState.SHOULD_RUN)

    assert tasks.attempt_restart(policy.pk, due(policy, [1])) == "failed"

    attempt = Event.objects.get(action="autorestart.attempt")
    assert attempt.details["result"] == "failed" and attempt.message.startswith("Attempt 1 of 3 failed: ")
    scheduled = Event.objects.get(action="autorestart.scheduled")
    assert scheduled.message.startswith("Could not start far (")
    assert scheduled.message.endswith("); attempt 2 of 3 in 1 min.")  # 30 s doubled
    policy.refresh_from_db()
    assert policy.attempts == 1 and policy.next_attempt_at is not None and policy.last_error
