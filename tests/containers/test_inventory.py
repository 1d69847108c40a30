"""Inventory sync and single events against the real local daemon."""

import pytest

from apps.containers.inventory import apply_events, expect_events, refresh, sync_host
from apps.containers.models import Container, ContainerTag
from apps.core.models import Event
from apps.hosts.engines import engine_for
from apps.tags.models import Tag
from dockmon_agent.engine.base import Action, DockerEvent
from tests.dockerenv.image import READY_MARK
from tests.dockerenv.plugin import wait_for_log

pytestmark = pytest.mark.django_db


def sync(host):
    with engine_for(host) as engine:
        return sync_host(host, engine)


def row(host, name) -> Container:
    return Container.objects.get(host=host, name=name)


def test_a_full_sync_records_every_container_with_its_details(local_host, run_container, docker_prefix):
    web = run_container(
        "http",
        name="web",
        ports={"8080/tcp": None},
        labels={"com.docker.compose.project": "shop", "dockmon.tag": "edge, public"},
    )
    done = run_container("exit", "3", "0", name="done")
    done.wait(timeout=10)
    result = sync(local_host)
    names = {c.name for c in result.created}
    assert {web.name, done.name} <= names
    w = row(local_host, web.name)
    assert (w.state, w.docker_id, w.image, w.compose_project) == ("running", web.id, "dockenv/testapp:1", "shop")
    assert w.started_at is not None and w.desired_state == "should_run"
    assert any(p["container_port"] == 8080 and p["host_ip"] == "127.0.0.1" and p["host_port"] for p in w.ports)
    assert {t.name for t in w.tags.all()} == {"compose:shop", "edge", "public"}
    d = row(local_host, done.name)
    assert (d.state, d.exit_code, d.desired_state) == ("exited", 3, "on_demand")


def test_a_second_sync_changes_nothing_when_nothing_changed(local_host, run_container):
    idle = run_container(name="idle")
    sync(local_host)
    again = sync(local_host)
    # Other test sessions may share this daemon: only this test's container is ours to judge.
    touched = {c.name for c in again.created + again.updated + again.revived + again.removed}
    assert idle.name not in touched


def test_a_recreated_container_keeps_its_row_and_user_tags(local_host, run_container, docker_client):
    first = run_container(name="app")
    sync(local_host)
    original = row(local_host, first.name)
    ContainerTag.objects.create(container=original, tag=Tag.objects.create(name="critical"))
    first.remove(force=True)
    second = run_container(name="app")
    sync(local_host)
    recreated = row(local_host, second.name)
    assert recreated.pk == original.pk and recreated.docker_id == second.id
    assert [t.name for t in recreated.tags.all()] == ["critical"]


def test_a_container_that_disappears_is_marked_removed_not_dropped(local_host, run_container):
    gone = run_container(name="gone")
    sync(local_host)
    gone.remove(force=True)
    result = sync(local_host)
    assert [c.name for c in result.removed] == [gone.name]
    kept = row(local_host, gone.name)
    assert kept.state == "removed" and kept.removed_at is not None
    assert Event.objects.filter(action="containers.gone", target_id=str(kept.pk)).exists()


def test_a_rename_takes_the_row_along(local_host, run_container, docker_prefix):
    c = run_container(name="old")
    sync(local_host)
    pk = row(local_host, c.name).pk
    c.rename(f"{docker_prefix}new")
    sync(local_host)
    assert row(local_host, f"{docker_prefix}new").pk == pk
    assert not Container.objects.filter(host=local_host, name=c.name).exists()


def event(action: str, container_id: str, **attributes) -> DockerEvent:
    from django.utils import timezone

    return DockerEvent(action=action, container_id=container_id, name="", time=timezone.now(), attributes=attributes)


def test_an_event_from_outside_dockmon_updates_the_row_and_is_audited_as_docker(local_host, run_container):
    c = run_container(name="ext")
    wait_for_log(c, READY_MARK)
    sync(local_host)
    c.stop(timeout=5)
    with engine_for(local_host) as engine:
        apply_events(local_host, engine, [event("die", c.id, exitCode="0")])
    assert row(local_host, c.name).state == "exited"
    audit = Event.objects.get(action="containers.die")
    assert (audit.actor_kind, audit.actor_name, audit.host, audit.details) == (
        "docker",
        "docker",
        local_host,
        {"exit_code": 0},
    )


def test_events_caused_by_dockmon_are_not_audited_twice(local_host, run_container):
    c = run_container(name="mine")
    sync(local_host)
    expect_events(local_host, c.id, Action.STOP)
    c.stop(timeout=5)
    with engine_for(local_host) as engine:
        apply_events(local_host, engine, [event("stop", c.id)])
    assert row(local_host, c.name).state == "exited"
    assert not Event.objects.filter(action="containers.stop").exists()


def test_destroy_marks_removed_and_refresh_of_a_missing_container_does_too(local_host, run_container):
    c = run_container(name="short")
    sync(local_host)
    c.remove(force=True)
    with engine_for(local_host) as engine:
        assert refresh(local_host, engine, c.id).state == "removed"
        apply_events(local_host, engine, [event("destroy", c.id)])
    assert row(local_host, c.name).is_removed


def test_a_container_first_seen_just_created_is_meant_to_run(
    local_host, docker_client, test_image, docker_prefix, docker_labels, run_container
):
    # `docker run` sends create and start; a listener can see them in separate batches.
    created = docker_client.containers.create(test_image, name=f"{docker_prefix}run", labels=docker_labels)
    done = run_container("exit", "0", "0", name="done")
    done.wait(timeout=10)
    with engine_for(local_host) as engine:
        apply_events(local_host, engine, [event("create", created.id), event("die", done.id)])
    assert row(local_host, created.name).desired_state == "should_run"
    assert row(local_host, done.name).desired_state == "on_demand"  # first seen exited: started when needed
