"""The containers table and the container page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.containers.models import Container, ContainerTag
from apps.hosts.models import Host
from apps.tags.models import Tag
from tests.fixtures import synced

pytestmark = pytest.mark.django_db


def make_rows(count: int, host: Host, **fields) -> list[Container]:
    now = timezone.now()
    rows = Container.objects.bulk_create(
        Container(
            host=host,
            name=f"app-{n:03d}",
            docker_id=f"{n:064x}",
            image="nginx:1.27",
            state="running",
            started_at=now,
            search_text=f"app-{n:03d} nginx:1.27",
            **fields,
        )
        for n in range(count)
    )
    tag = Tag.objects.get_or_create(name="web")[0]
    ContainerTag.objects.bulk_create(ContainerTag(container=row, tag=tag) for row in rows)
    return rows


@pytest.fixture
def hosts(db) -> tuple[Host, Host]:
    return (
        Host.objects.create(name="alpha", kind="socket", url="unix:///a.sock", status="online"),
        Host.objects.create(name="beta", kind="tls", url="tcp://beta.example:2376", status="online"),
    )


def page(client, **params) -> str:
    return client.get("/containers/", params).content.decode()


def test_every_container_of_every_host_in_one_table(client_for, viewer, hosts):
    alpha, beta = hosts
    Container.objects.create(
        host=alpha,
        name="shop-web",
        docker_id="a" * 64,
        image="shop/web:2.1",
        state="running",
        ports=[{"container_port": 80, "protocol": "tcp", "host_ip": "0.0.0.0", "host_port": 8080}],
        started_at=timezone.now(),
        search_text="shop-web",
    )
    Container.objects.create(
        host=beta, name="db", docker_id="b" * 64, image="postgres:16", state="exited", exit_code=1, search_text="db"
    )
    html = page(client_for(viewer))
    assert "shop-web" in html and "db" in html and "alpha" in html and "beta" in html
    assert 'href="http://127.0.0.1:8080/"' in html  # the local socket's ports link to DockMon's own address
    assert 'data-state="exited"' in html and "(1)" in html


def test_filters_search_and_removed(client_for, viewer, hosts):
    alpha, beta = hosts
    c1 = Container.objects.create(
        host=alpha,
        name="api",
        docker_id="1" * 64,
        state="running",
        compose_project="shop",
        labels={"team": "payments"},
        search_text="api img team=payments",
    )
    Container.objects.create(host=beta, name="worker", docker_id="2" * 64, state="exited", search_text="worker")
    Container.objects.create(host=beta, name="old", docker_id="3" * 64, state="removed", search_text="old")
    ContainerTag.objects.create(container=c1, tag=Tag.objects.create(name="critical"))
    client = client_for(viewer)
    assert "worker" not in page(client, host=alpha.pk) and "api" in page(client, host=alpha.pk)
    assert "api" not in page(client, state="exited")
    assert "worker" not in page(client, tag="critical")
    assert "worker" not in page(client, project="shop")
    assert "api" in page(client, q="PAYMENTS") and "worker" not in page(client, q="payments")
    assert ">old<" not in page(client) and ">old<" in page(client, show_removed="on")


def test_containers_of_an_offline_host_show_as_unknown(client_for, viewer, hosts):
    alpha, _ = hosts
    Container.objects.create(host=alpha, name="api", docker_id="1" * 64, state="running", search_text="api")
    Host.objects.filter(pk=alpha.pk).update(status="offline")
    client = client_for(viewer)
    assert 'data-state="unknown"' in page(client)
    assert "api" in page(client, state="unknown") and "api" not in page(client, state="running")


def test_sorting_is_remembered_per_user(client_for, viewer, operator, hosts):
    alpha, beta = hosts
    Container.objects.create(host=beta, name="aaa", docker_id="1" * 64, state="running", search_text="aaa")
    Container.objects.create(host=alpha, name="zzz", docker_id="2" * 64, state="running", search_text="zzz")
    client = client_for(viewer)
    html = page(client, sort="host")
    assert html.index("zzz") < html.index("aaa")
    html = page(client)  # no sort asked: the remembered one
    assert html.index("zzz") < html.index("aaa")
    viewer.refresh_from_db()
    assert viewer.preferences["containers_sort"] == "host"
    other = page(client_for(operator))
    assert other.index("aaa") < other.index("zzz")  # another user keeps the default (name)
    html = page(client, sort="-name")
    assert html.index("zzz") < html.index("aaa")


def test_htmx_gets_only_the_table_and_queries_do_not_grow_with_rows(client_for, viewer, hosts):
    alpha, _ = hosts
    make_rows(5, alpha)
    client = client_for(viewer)
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "container-table"}
    body = client.get("/containers/", **headers).content.decode()
    assert body.startswith('<section class="card table-card" id="container-table">') and "<html" not in body
    with CaptureQueriesContext(connection) as few:
        client.get("/containers/", **headers)
    Container.objects.all().delete()
    make_rows(60, alpha)
    with CaptureQueriesContext(connection) as many_cold:  # rows rendered (and cached) now
        assert "app-059" in client.get("/containers/", **headers).content.decode()
    with CaptureQueriesContext(connection) as many:
        client.get("/containers/", **headers)
    assert len(many) == len(few)
    assert len(many_cold) == len(few) + 1  # one query for the tags of the rows it had to render


def synced_container(host, run_container, **kwargs) -> Container:
    return synced(host, run_container(environment={"API_TOKEN": "s3cret-value", "MODE": "prod"}, **kwargs))


def test_environment_is_masked_unless_the_role_may_see_it(client_for, viewer, operator, local_host, run_container):
    row = synced_container(local_host, run_container, name="envy")
    masked = client_for(viewer).get(f"/containers/{row.pk}/env/").content.decode()
    assert "API_TOKEN" in masked and "s3cret-value" not in masked and "••••" in masked
    shown = client_for(operator).get(f"/containers/{row.pk}/env/").content.decode()
    assert "s3cret-value" in shown


def test_inspect_is_for_admins(client_for, admin, operator, local_host, run_container):
    row = synced_container(local_host, run_container, name="inspected")
    assert client_for(operator).get(f"/containers/{row.pk}/inspect/").status_code == 403
    document = client_for(admin).get(f"/containers/{row.pk}/inspect/").content.decode()
    assert "&quot;Image&quot;" in document and row.docker_id in document


def test_the_container_page_shows_details_and_its_events(client_for, operator, local_host, run_container):
    row = synced_container(local_host, run_container, name="detailed", labels={"team": "core"})
    client = client_for(operator)
    client.post(f"/containers/{row.pk}/tags/", {"name": "gold"}, HTTP_HX_REQUEST="true")
    html = client.get(f"/containers/{row.pk}/").content.decode()
    assert row.docker_id in html and "dockenv/testapp:1" in html and "team" in html and "core" in html
    assert 'id="container-events"' in html and "Tagged container" in html
    assert 'ws-connect="/ws/live/?watch=container:' in html


def test_containers_needing_attention_can_be_listed(client_for, viewer, hosts):
    alpha, _ = hosts
    Container.objects.create(host=alpha, name="crashed", docker_id="1" * 64, state="exited", search_text="crashed")
    Container.objects.create(
        host=alpha, name="batch", docker_id="2" * 64, state="exited", desired_state="on_demand", search_text="batch"
    )
    Container.objects.create(
        host=alpha, name="sick", docker_id="3" * 64, state="running", health="unhealthy", search_text="sick"
    )
    client = client_for(viewer)
    down = page(client, problem="down")
    assert "crashed" in down and "batch" not in down and "sick" not in down
    assert ">sick<" in page(client, problem="unhealthy") and "crashed" not in page(client, problem="unhealthy")
    dashboard = client.get("/").content.decode()
    assert 'href="/containers/?problem=down"' in dashboard
