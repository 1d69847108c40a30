"""Threshold rules judged on the real collector's sweeps of the local daemon (time moved on by the
engine's injectable clock, never slept), and their hold, occurrence and clear logic."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.alerts import engine
from apps.alerts.models import Alert
from apps.containers.models import Container
from apps.metrics.collector import sweep_host
from apps.notifications.models import Delivery
from tests.dockerenv.image import READY_MARK
from tests.dockerenv.plugin import wait_for_log
from tests.fixtures import sync_inventory, wait_until


@pytest.fixture
def later(monkeypatch):
    """Move the engine's clock on by some seconds."""

    def move(seconds: float) -> None:
        monkeypatch.setattr(engine, "clock", lambda: time.time() + seconds)

    return move


def swept(host, times: int = 1) -> None:
    for _ in range(times):
        sweep_host(host)
        time.sleep(0.6)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_cpu_rule_fires_only_after_its_duration_and_resolves_once_the_container_stops(
    online_host, run_container, make_rule, http_server, later
):
    rule = make_rule("container_cpu", threshold=20, duration_seconds=120, cooldown_seconds=0)
    busy = run_container("cpu", "1", name="busy", nano_cpus=500_000_000)
    wait_for_log(busy, READY_MARK)
    sync_inventory(online_host)
    swept(online_host, 3)  # the first sweep has no CPU % yet; the next ones see it above 20 %
    assert not Alert.objects.filter(rule=rule).exists()  # held for seconds, not two minutes

    later(121)
    sweep_host(online_host)
    alert = Alert.objects.get(rule=rule)
    assert alert.target_name == busy.name and alert.state == "firing"
    assert alert.context["value"] > 20 and alert.context["threshold"] == 20
    assert alert.context["duration_seconds"] >= 120 and alert.context["clear_threshold"] == 15
    message = wait_until(http_server.posted_json)[0]
    assert f"{busy.name} on local: CPU " in message["title"] and "for 2 min" in message["message"]

    busy.stop(timeout=1)
    sync_inventory(online_host)
    sweep_host(online_host)
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolution == "The container is no longer running."
    wait_until(lambda: len(http_server.requests) == 2)
    assert http_server.titles()[1].startswith("Resolved: ")


@pytest.mark.django_db
def test_a_host_cpu_alert_names_its_top_three_containers(online_host, run_container, make_rule):
    rule = make_rule("host_cpu", threshold=0.01, channels=[])
    burners = [run_container("cpu", "1", name=f"burn{n}", nano_cpus=(n + 1) * 200_000_000) for n in range(3)]
    idle = run_container(name="idle")
    for c in [*burners, idle]:
        wait_for_log(c, READY_MARK)
    sync_inventory(online_host)
    swept(online_host, 3)
    alert = Alert.objects.get(rule=rule)
    top = alert.context["top_containers"]
    # Other tests' containers may share the daemon; ours burn a CPU share each, the idle one nothing.
    names = [item["name"] for item in top]
    assert idle.name not in names and burners[2].name in names
    assert "Top containers:" in alert.message and burners[2].name in alert.message
    assert not Delivery.objects.exists()
    assert "Nobody was notified: the rule has no channels." in [e["note"] for e in alert.context["history"]]


@pytest.mark.django_db
def test_a_memory_rule_gives_the_containers_limit(online_host, run_container, make_rule):
    rule = make_rule("container_memory", threshold=50)
    holder = run_container("mem", "100", name="holder", mem_limit="128m")
    wait_for_log(holder, READY_MARK)
    time.sleep(0.5)
    sync_inventory(online_host)
    swept(online_host, 2)
    alert = Alert.objects.get(rule=rule)
    assert alert.context["memory_limit"] == 128 * 2**20
    assert "128.0 MiB memory limit" in alert.message


def values(host_cpu: float | None = None, **containers: float) -> dict:
    return {"host": {"cpu": host_cpu}, **{key: {"cpu": cpu} for key, cpu in containers.items()}}


@pytest.mark.django_db
def test_occurrences_within_a_window_and_the_separate_clear_threshold(local_host, make_rule, later):
    rule = make_rule("host_cpu", threshold=80, clear_threshold=50, occurrences=3, window_seconds=60)
    for step in range(2):
        later(step * 10)
        engine.judge_sweep(local_host, values(90))
    later(25)
    engine.judge_sweep(local_host, values(40))  # a dip does not reset the count of breaches
    assert not Alert.objects.exists()
    later(30)
    engine.judge_sweep(local_host, values(95))
    alert = Alert.objects.get(rule=rule)
    assert alert.value == 95 and alert.target_key == f"host:{local_host.pk}"
    later(40)
    engine.judge_sweep(local_host, values(60))  # below the threshold, above the clear threshold
    alert.refresh_from_db()
    assert alert.state == "firing"
    later(50)
    engine.judge_sweep(local_host, values(45))
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolution == "Back to 45.0, below 50."


@pytest.mark.django_db
def test_breaches_too_far_apart_do_not_fire(local_host, make_rule, later):
    make_rule("host_cpu", threshold=80, occurrences=2, window_seconds=60)
    later(0)
    engine.judge_sweep(local_host, values(90))
    later(61)
    engine.judge_sweep(local_host, values(90))
    assert not Alert.objects.exists()


@pytest.mark.django_db
def test_judging_a_sweep_costs_the_same_few_queries_however_many_containers(
    local_host, make_rule, django_assert_max_num_queries
):
    make_rule("container_cpu", threshold=80, duration_seconds=60)
    make_rule("host_cpu", name="host", threshold=80, duration_seconds=60)
    rows = Container.objects.bulk_create(
        Container(host=local_host, name=f"c{n}", docker_id=f"id{n}", state="running") for n in range(40)
    )
    few = {f"c:{row.pk}": {"cpu": 90.0} for row in rows[:2]}
    many = {f"c:{row.pk}": {"cpu": 90.0} for row in rows}
    engine.forget_active_kinds()
    engine.active_kinds()
    with CaptureQueriesContext(connection) as two:
        engine.judge_sweep(local_host, {"host": {"cpu": 10.0}, **few})
    with CaptureQueriesContext(connection) as forty:
        engine.judge_sweep(local_host, {"host": {"cpu": 10.0}, **many})
    assert len(forty) == len(two) <= 8


@pytest.mark.django_db
def test_no_threshold_rule_means_no_work_at_all(local_host, make_rule, django_assert_num_queries):
    make_rule("container_stopped")
    engine.active_kinds()
    with django_assert_num_queries(0):
        engine.judge_sweep(local_host, values(99, **{"c:1": 99.0}))
