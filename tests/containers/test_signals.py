"""What the inventory, hosts and metrics announce to alerts and auto-restart, with real Docker events."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from apps.containers.models import Container
from apps.containers.services import (
    SYSTEM_RESTART_LIMIT,
    RestartLimitReached,
    container_act,
    system_restart,
)
from apps.containers.signals import Happening, container_events
from apps.core.audit import record
from apps.core.models import Event
from apps.hosts.models import Host
from apps.hosts.services import host_record_contact, host_record_failure
from apps.hosts.signals import host_status_changed
from apps.metrics.collector import sweep_host
from apps.metrics.signals import host_swept
from dockmon_agent.engine.base import Action, HostUnreachable
from tests.dockerenv.image import READY_MARK
from tests.dockerenv.plugin import wait_for_log
from tests.fixtures import synced, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def heard() -> Iterator[list[Happening]]:
    happenings: list[Happening] = []

    def listen(sender, happenings: list[Happening], **kwargs) -> None:
        happenings_heard.extend(happenings)

    happenings_heard = happenings
    container_events.connect(listen, weak=False)
    yield happenings
    container_events.disconnect(listen)


def actions_of(heard: list[Happening], name: str) -> list[Happening]:
    return [h for h in heard if h.container.name == name]


def test_a_crash_is_announced_with_its_exit_code_and_not_as_dockmons_doing(local_host, run_container, follow, heard):
    c = run_container("exit", "3", "1", name="crash")
    follow(local_host)
    wait_until(lambda: any(h.action == "die" for h in actions_of(heard, c.name)), timeout=15)
    die = next(h for h in actions_of(heard, c.name) if h.action == "die")
    assert die.exit_code == 3 and not die.by_dockmon
    assert die.container.state == Container.State.EXITED and die.container.exit_code == 3


def test_a_users_stop_is_dockmons_doing_and_marks_the_row_until_it_runs_again(
    local_host, run_container, follow, heard, operator
):
    c = run_container(name="calm")
    wait_for_log(c, READY_MARK)
    follow(local_host)
    wait_until(lambda: Container.objects.filter(host=local_host, name=c.name, state="running").exists())
    row = Container.objects.get(host=local_host, name=c.name)
    container_act(actor=operator, container=row, action=Action.STOP)
    wait_until(lambda: any(h.action == "die" for h in actions_of(heard, c.name)))
    assert all(h.by_dockmon for h in actions_of(heard, c.name))
    row.refresh_from_db()
    assert row.stopped_by_user and row.state == Container.State.EXITED

    subprocess.run(["docker", "start", c.name], check=True, capture_output=True)
    wait_until(lambda: any(h.action == "start" for h in actions_of(heard, c.name)))
    start = next(h for h in actions_of(heard, c.name) if h.action == "start")
    assert not start.by_dockmon  # the command line is not DockMon
    assert start.container.state == Container.State.RUNNING and not start.container.stopped_by_user
    assert not Container.objects.get(pk=row.pk).stopped_by_user


def test_system_restart_is_audited_with_its_reason_and_capped(local_host, run_container):
    c = run_container(name="flaky")
    wait_for_log(c, READY_MARK)
    row = synced(local_host, c)
    system_restart(row, reason="health check failing")
    restart = Event.objects.get(action="containers.restart", target_id=str(row.pk))
    assert restart.actor_kind == Event.ActorKind.AUTO_RESTART and restart.message == "health check failing"

    for _ in range(SYSTEM_RESTART_LIMIT - 1):
        record(Event.ActorKind.AUTO_RESTART, "containers.start", row, host=local_host)
    with pytest.raises(RestartLimitReached, match="12 times in 10 minutes"):
        system_restart(row, reason="once more")
    assert Event.objects.filter(action__startswith="containers.", target_id=str(row.pk)).count() == 12


def test_hosts_announce_going_down_and_coming_back(local_host):
    changes: list[tuple[bool, str]] = []

    def listen(sender, host: Host, online: bool, error: str, **kwargs) -> None:
        changes.append((online, error))

    host_status_changed.connect(listen, weak=False)
    try:
        host_record_contact(local_host)
        host_record_contact(local_host)  # no change: no news
        host_record_failure(local_host, HostUnreachable("connection refused"))
        host_record_contact(local_host)
    finally:
        host_status_changed.disconnect(listen)
    assert changes == [(True, ""), (False, "connection refused"), (True, "")]


def test_each_sweep_announces_the_numbers_it_measured(local_host, run_container):
    c = run_container(name="busy")
    wait_for_log(c, READY_MARK)
    row = synced(local_host, c)
    swept: list[dict] = []

    def listen(sender, host: Host, values: dict, **kwargs) -> None:
        swept.append(values)

    host_swept.connect(listen, weak=False)
    try:
        sweep_host(local_host)
    finally:
        host_swept.disconnect(listen)
    assert len(swept) == 1
    assert "memp" in swept[0][f"c:{row.pk}"] and "cpu" in swept[0]["host"]
