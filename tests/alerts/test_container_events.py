"""Container alerts from real Docker events: the listener follows the local daemon, a real Celery worker
judges the events and sends the notifications to a real JSON webhook on 127.0.0.1."""

from __future__ import annotations

import time

import pytest

from apps.alerts.models import Alert
from apps.containers.models import Container
from apps.containers.services import container_act
from apps.notifications.models import Delivery
from dockmon_agent.engine.base import Action
from tests.dockerenv.image import READY_MARK
from tests.dockerenv.plugin import wait_for_log
from tests.fixtures import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker", "fast_grace")]


def row(host, name: str) -> Container:
    return wait_until(lambda: Container.objects.filter(host=host, name=name).first())


def alerts_of(name: str, **filters):
    return Alert.objects.filter(target_name=name, **filters)


def test_a_container_exiting_with_1_fires_with_its_exit_code_and_log_tail_then_resolves_when_it_runs(
    local_host, run_container, follow, make_rule, http_server
):
    rule = make_rule("container_stopped", severity="error", cooldown_seconds=0)
    follow(local_host)
    c = run_container("exit", "1", "2", name="crashy")
    alert = wait_until(lambda: alerts_of(c.name).first())
    assert alert.rule == rule and alert.state == "firing" and alert.severity == "error"
    assert alert.context["exit_code"] == 1
    assert "testapp: exiting with 1" in alert.context["log_tail"]
    assert alert.title == f"{c.name} on local exited with code 1"
    message = wait_until(http_server.posted_json)[0]
    assert message["title"] == alert.title
    assert "exit code 1" in message["message"] and "testapp: exiting with 1" in message["message"]
    assert f"/containers/{alert.container_id}/" in message["message"]

    c.start()
    wait_until(lambda: Alert.objects.get(pk=alert.pk).state == "resolved")
    resolved = Alert.objects.get(pk=alert.pk)
    assert resolved.resolution == "The container is running again."
    wait_until(lambda: len(http_server.requests) == 2)
    assert http_server.titles()[1] == f"Resolved: {alert.title}"


def test_a_stop_through_dockmon_fires_only_for_a_rule_counting_intended_stops(
    local_host, run_container, follow, make_rule, admin, http_server
):
    make_rule("container_stopped", name="crashes only")
    counting = make_rule("container_stopped", name="every stop", include_intended_stops=True)
    follow(local_host)
    c = run_container(name="stopped-by-pat")
    wait_for_log(c, READY_MARK)
    container = wait_until(lambda: Container.objects.filter(name=c.name, state="running").first())
    container_act(actor=admin, container=container, action=Action.STOP)
    alert = wait_until(lambda: alerts_of(c.name).first())
    assert alert.rule == counting
    assert alert.context["error"] == "Stopped through DockMon by a user."
    wait_until(http_server.posted_json)
    assert alerts_of(c.name).count() == 1 and len(http_server.requests) == 1


def test_a_container_recreated_under_the_same_name_does_not_raise_stopped(
    local_host, run_container, follow, make_rule, http_server, settings
):
    make_rule("container_stopped")
    started = make_rule("container_started", name="started", channels=[])
    follow(local_host)
    first = run_container(name="app")
    wait_for_log(first, READY_MARK)
    pk = wait_until(lambda: Container.objects.filter(host=local_host, name=first.name).first()).pk
    first.remove(force=True)  # what an update or `compose up --force-recreate` does, then...
    second = run_container(name="app")
    # The new container's start is seen (an event alert, recorded and resolved at once)...
    wait_until(lambda: Alert.objects.filter(rule=started, container_id=pk, fired_at__isnull=False).count() >= 2)
    assert Container.objects.get(pk=pk).docker_id == second.id
    # ...and once the grace period is over, the old container's death has raised nothing.
    wait_until(lambda: not Alert.objects.filter(container_id=pk).exclude(state="resolved").exists())
    time.sleep(settings.ALERTS_STOP_GRACE_SECONDS + 1.5)
    assert not alerts_of(first.name, kind="container_stopped").exists()
    assert all(a.resolution.startswith("A start is an event") for a in Alert.objects.filter(rule=started))
    assert not Delivery.objects.exists() and not http_server.requests


def test_an_oom_kill_carries_the_memory_limit(local_host, run_container, follow, make_rule, http_server):
    make_rule("oom_killed", severity="critical")
    follow(local_host)
    c = run_container("oom", name="hungry", mem_limit="16m")
    alert = wait_until(lambda: alerts_of(c.name, kind="oom_killed").first(), timeout=30)
    assert alert.context["memory_limit"] == 16 * 1024 * 1024
    message = wait_until(http_server.posted_json)[0]
    assert "16.0 MiB" in message["message"]


def test_a_restart_loop_fires_after_n_dies_within_the_window(local_host, run_container, follow, make_rule, http_server):
    loop = make_rule("restart_loop", occurrences=3, window_seconds=120)
    follow(local_host)
    c = run_container("exit", "2", "0", name="looper", restart_policy={"Name": "always"})
    alert = wait_until(lambda: alerts_of(c.name, rule=loop).first(), timeout=30)
    assert alert.context["restarts"] >= 3 and alert.context["exit_codes"][:3] == [2, 2, 2]
    assert "testapp: exiting with 2" in alert.context["log_tail"]
    assert alert.title.startswith(f"{c.name} on local restarted ") and alert.title.endswith(" times in 2 min")
    wait_until(http_server.posted_json)


def test_unhealthy_by_dockers_healthcheck_fires_and_healthy_again_resolves(
    local_host, run_container, follow, make_rule, http_server, docker_client
):
    make_rule("unhealthy")
    follow(local_host)
    check = {"test": ["CMD-SHELL", "test ! -f /tmp/broken"], "interval": 300_000_000, "retries": 1}
    c = run_container(name="doctor", healthcheck=check)
    wait_until(lambda: Container.objects.filter(name=c.name, health="healthy").exists())
    c.exec_run(["touch", "/tmp/broken"])
    alert = wait_until(lambda: alerts_of(c.name, kind="unhealthy").first())
    assert alert.state == "firing"
    c.exec_run(["rm", "/tmp/broken"])
    wait_until(lambda: Alert.objects.get(pk=alert.pk).state == "resolved")
    assert Alert.objects.get(pk=alert.pk).resolution == "Docker's health check passes again."
    wait_until(lambda: len(http_server.requests) == 2)
    assert http_server.titles() == [f"{c.name} on local is unhealthy", f"Resolved: {c.name} on local is unhealthy"]
