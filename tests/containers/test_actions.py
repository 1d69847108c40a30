"""Container actions through the pages, applied to real containers."""

import pytest

from apps.containers.models import Container
from apps.core.models import Event
from tests.dockerenv.image import READY_MARK
from tests.dockerenv.plugin import wait_for_log
from tests.fixtures import synced

pytestmark = pytest.mark.django_db


def test_an_operator_stops_a_container_and_it_really_stops(client_for, operator, local_host, run_container):
    c = run_container(name="web")
    wait_for_log(c, READY_MARK)
    row = synced(local_host, c)
    response = client_for(operator).post(f"/containers/{row.pk}/stop/", {"from": "row"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'id="ctr-{row.pk}"' in response.content.decode() and 'data-state="exited"' in response.content.decode()
    c.reload()
    assert c.status == "exited"
    assert Container.objects.get(pk=row.pk).state == "exited"
    audit = Event.objects.get(action="containers.stop")
    assert (audit.actor, audit.host, audit.target_name) == (operator, local_host, c.name)


def test_start_restart_pause_and_kill_are_applied(client_for, operator, local_host, run_container):
    c = run_container(name="svc")
    wait_for_log(c, READY_MARK)
    row = synced(local_host, c)
    client = client_for(operator)
    for action, expected in [
        ("pause", "paused"),
        ("unpause", "running"),
        ("kill", "exited"),
        ("start", "running"),
        ("restart", "running"),
    ]:
        assert client.post(f"/containers/{row.pk}/{action}/", HTTP_HX_REQUEST="true").status_code == 200, action
        c.reload()
        assert c.status == expected, action
    assert Event.objects.filter(actor=operator, category="containers").count() == 5


def test_docker_errors_come_back_as_plain_messages(client_for, operator, local_host, run_container):
    c = run_container(name="up")
    row = synced(local_host, c)
    response = client_for(operator).post(f"/containers/{row.pk}/start/", HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert response["Content-Type"].startswith("text/plain")
    assert "already" in response.content.decode()
    failed = Event.objects.get(action="containers.start")
    assert failed.severity == "warning" and failed.details["result"] == "failed"


def test_a_viewer_is_refused_any_action(client_for, viewer, local_host, run_container):
    c = run_container(name="guarded")
    row = synced(local_host, c)
    client = client_for(viewer)
    for path in ("stop/", "kill/", "restart/", "rename/", "remove/", "tags/", "desired-state/"):
        assert client.post(f"/containers/{row.pk}/{path}", {"name": "x"}).status_code == 403, path
    c.reload()
    assert c.status == "running"


def test_rename_and_remove_need_an_admin(
    client_for, operator, admin, local_host, run_container, docker_prefix, docker_client
):
    c = run_container(name="victim")
    row = synced(local_host, c)
    assert client_for(operator).post(f"/containers/{row.pk}/rename/", {"name": "x"}).status_code == 403
    response = client_for(admin).post(f"/containers/{row.pk}/rename/", {"name": f"{docker_prefix}renamed"})
    assert response.status_code == 302
    c.reload()
    assert c.name == f"{docker_prefix}renamed"
    assert Container.objects.get(pk=row.pk).name == c.name
    client_for(admin).post(f"/containers/{row.pk}/remove/", {"remove_volumes": "on"})
    assert not docker_client.containers.list(all=True, filters={"id": c.id})
    assert Container.objects.get(pk=row.pk).state == "removed"
    assert Event.objects.get(action="containers.remove").details == {"volumes": True}


def test_renaming_to_a_name_in_use_is_refused_readably(client_for, admin, local_host, run_container):
    first, second = run_container(name="one"), run_container(name="two")
    row = synced(local_host, first)
    response = client_for(admin).post(f"/containers/{row.pk}/rename/", {"name": second.name}, HTTP_HX_REQUEST="true")
    assert response.status_code == 409 and "already in use" in response.content.decode()
    first.reload()
    assert first.name.endswith("one")


def test_an_invalid_name_is_refused_before_docker_sees_it(client_for, admin, local_host, run_container):
    row = synced(local_host, run_container(name="named"))
    response = client_for(admin).post(f"/containers/{row.pk}/rename/", {"name": "bad name!"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 409 and "letters, digits" in response.content.decode()


def test_acting_on_a_container_someone_else_removed_says_so(client_for, operator, local_host, run_container):
    c = run_container(name="fleeting")
    row = synced(local_host, c)
    c.remove(force=True)
    response = client_for(operator).post(f"/containers/{row.pk}/stop/", HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert response.content.decode() == f"{c.name} no longer exists on local."
    assert Container.objects.get(pk=row.pk).state == "removed"


def test_an_unreachable_host_gives_a_clear_message(client_for, operator, local_host, run_container):
    row = synced(local_host, run_container(name="far"))
    local_host.url = "unix:///nonexistent/docker.sock"
    local_host.save()
    response = client_for(operator).post(f"/containers/{row.pk}/stop/", HTTP_HX_REQUEST="true")
    assert response.status_code == 409 and "nonexistent" in response.content.decode()


def test_tags_and_desired_state(client_for, operator, local_host, run_container):
    row = synced(local_host, run_container(name="tagged", labels={"dockmon.tag": "from-label"}))
    client = client_for(operator)
    page = client.post(f"/containers/{row.pk}/tags/", {"name": " Blue  team "}, HTTP_HX_REQUEST="true").content
    assert b"Blue team" in page
    client.post(f"/containers/{row.pk}/tags/", {"remove": "from-label"}, HTTP_HX_REQUEST="true")
    assert sorted(t.name for t in Container.objects.get(pk=row.pk).tags.all()) == ["Blue team", "from-label"]
    client.post(f"/containers/{row.pk}/tags/", {"remove": "Blue team"}, HTTP_HX_REQUEST="true")
    assert [t.name for t in Container.objects.get(pk=row.pk).tags.all()] == ["from-label"]
    client.post(f"/containers/{row.pk}/desired-state/", {"desired_state": "on_demand"}, HTTP_HX_REQUEST="true")
    assert Container.objects.get(pk=row.pk).desired_state == "on_demand"
    assert set(Event.objects.filter(actor=operator, category="containers").values_list("action", flat=True)) == {
        "containers.tag_add",
        "containers.tag_remove",
        "containers.desired_state",
    }
