"""The containers page with many rows: server time of the full page and of the htmx partial, and SQL queries.

Rows are made up but shaped like a real fleet (compose projects, published ports, labels, health checks,
0-3 tags each) and spread over 5 hosts. Requests go through Django's whole stack (middleware, session,
templates) with django.test.Client; "server time" is the wall time of `client.get()`, which is what a
WSGI/ASGI server adds nothing but I/O to. The query count is measured at a tenth of the rows and at all of
them: it must be the same.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import random
import time
import uuid
from datetime import timedelta

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.containers.models import Container, ContainerTag
from apps.hosts.models import Host
from apps.tags.models import Tag
from apps.tags.services import COMPOSE_PROJECT_LABEL
from apps.users.capabilities import Role
from apps.users.models import User
from apps.users.services import role_assign

URL = "/containers/"
PARTIAL_HEADERS = {"HX-Request": "true", "HX-Target": "container-table"}
FULL_TARGET_MS = 300
PARTIAL_TARGET_MS = 100
HOSTS = 5
ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - how Docker reports a port published on all interfaces

PROJECTS = ["shop", "billing", "auth", "search", "media", "analytics", "mail", "wiki", "ci", "monitoring"]
SERVICES = [
    ("web", "nginx:1.27", [(80, 8080)]),
    ("api", "ghcr.io/acme/api:2.14.1", [(8000, None)]),
    ("worker", "ghcr.io/acme/worker:2.14.1", []),
    ("db", "postgres:16.4", [(5432, None)]),
    ("cache", "redis:7.4-alpine", [(6379, None)]),
    ("queue", "rabbitmq:3.13-management", [(5672, None), (15672, 15672)]),
    ("proxy", "registry.example.com:5000/infra/traefik:v3.1", [(80, 80), (443, 443)]),
    ("search", "docker.elastic.co/elasticsearch/elasticsearch:8.15.0", [(9200, 9200), (9300, None)]),
]
USER_TAGS = [("prod", "red"), ("staging", "yellow"), ("critical", "orange"), ("team-a", "blue"), ("team-b", "teal"),
             ("backup", "green"), ("legacy", "grey"), ("edge", "purple")]  # fmt: skip


def _hosts() -> list[Host]:
    now = timezone.now()
    hosts = [
        Host(name=f"node-{i + 1}", kind=Host.Kind.TLS, url=f"tcp://10.0.0.{i + 11}:2376", status=Host.Status.ONLINE,
             status_changed_at=now, last_seen=now)
        for i in range(HOSTS)
    ]  # fmt: skip
    return Host.objects.bulk_create(hosts)


def _container(rng: random.Random, host: Host, index: int, now) -> Container:
    project = PROJECTS[index % len(PROJECTS)]
    service, image, ports = SERVICES[(index // len(PROJECTS)) % len(SERVICES)]
    name = f"{project}-{service}-{index}"
    roll = rng.random()
    state = (
        "running" if roll < 0.80 else "exited" if roll < 0.92 else "restarting" if roll < 0.95
        else "paused" if roll < 0.98 else "created"
    )  # fmt: skip
    health = rng.choice(["", "", "healthy", "healthy", "unhealthy", "starting"]) if state == "running" else ""
    created = now - timedelta(days=rng.randint(1, 300), seconds=rng.randint(0, 86400))
    started = created + timedelta(minutes=rng.randint(1, 600)) if state != "created" else None
    finished = started + timedelta(hours=rng.randint(1, 48)) if state == "exited" else None
    port_rows = []
    for container_port, host_port in ports:
        published = host_port + index if host_port else None
        port_rows.append({"container_port": container_port, "protocol": "tcp",
                          "host_ip": ANY_ADDRESS if published else "", "host_port": published})  # fmt: skip
        if published:  # Docker lists the IPv6 binding too
            port_rows.append({"container_port": container_port, "protocol": "tcp", "host_ip": "::",
                              "host_port": published})  # fmt: skip
    labels = {
        COMPOSE_PROJECT_LABEL: project,
        "com.docker.compose.service": service,
        "com.docker.compose.version": "2.29.1",
        "com.docker.compose.config-hash": uuid.UUID(int=rng.getrandbits(128)).hex * 2,
        "com.docker.compose.container-number": "1",
        "com.docker.compose.project.working_dir": f"/srv/{project}",
        "org.opencontainers.image.source": f"https://github.com/acme/{project}",
    }
    docker_id = f"{rng.getrandbits(256):064x}"
    volume = f"{project}_{service}"
    return Container(
        host=host,
        name=name,
        docker_id=docker_id,
        image=image,
        image_id=f"sha256:{rng.getrandbits(256):064x}",
        command=["/docker-entrypoint.sh", service, "--port", "8000"],
        entrypoint=["tini", "--"],
        state=state,
        status="Up 3 days" if state == "running" else "Exited (0) 2 hours ago",
        health=health,
        exit_code=rng.choice([0, 0, 1, 137, 143]) if state == "exited" else None,
        created=created,
        started_at=started,
        finished_at=finished,
        restart_policy=rng.choice(["unless-stopped", "always", "no", "on-failure:3"]),
        restart_count=rng.choice([0, 0, 0, 1, 4]),
        ports=port_rows,
        labels=labels,
        networks={f"{project}_default": f"172.{18 + index % 10}.0.{index % 250 + 2}"},
        mounts=[
            {
                "type": "volume",
                "source": f"/var/lib/docker/volumes/{volume}/_data",
                "destination": "/data",
                "read_only": False,
                "name": volume,
            }
        ],
        compose_project=project,
        search_text=" ".join([name, image, *(f"{k}={v}" for k, v in labels.items())]).lower(),
        desired_state=Container.DesiredState.SHOULD_RUN,
        first_seen=created,
        state_changed_at=started or created,
    )


def populate(count: int, seed: int = 1) -> int:
    """Replace every host and container by `count` rows over 5 hosts; returns the number of tag links."""
    rng = random.Random(seed)  # noqa: S311 - made-up data, reproducible
    Host.objects.all().delete()  # cascades to containers and their tag links
    Tag.objects.all().delete()
    hosts = _hosts()
    now = timezone.now()
    rows = Container.objects.bulk_create(
        [_container(rng, hosts[i % HOSTS], i, now) for i in range(count)], batch_size=500
    )
    tags = {t.name: t for t in Tag.objects.bulk_create([Tag(name=n, colour=c) for n, c in USER_TAGS])}
    compose = {t.name: t for t in Tag.objects.bulk_create([Tag(name=f"compose:{p}") for p in PROJECTS])}
    links = []
    for row in rows:
        wanted = rng.randint(0, 3)
        if wanted:  # the project's label tag first, then user tags
            links.append(ContainerTag(container=row, tag=compose[f"compose:{row.compose_project}"],
                                      source=ContainerTag.Source.LABEL))  # fmt: skip
        for name in rng.sample(sorted(tags), max(0, wanted - 1)):
            links.append(ContainerTag(container=row, tag=tags[name], source=ContainerTag.Source.USER))
    ContainerTag.objects.bulk_create(links, batch_size=500)
    return len(links)


def _admin() -> User:
    user = User.objects.filter(username="bench-admin").first()
    if user is None:
        user = User.objects.create_user(username="bench-admin", email="bench@example.test", password=None)
        role_assign(user, Role.ADMIN)
    return user


def _get(client: Client, headers: dict | None) -> tuple[float, float, bytes]:
    """Wall time, this thread's CPU time, and the body of one request."""
    start, cpu = time.perf_counter(), time.thread_time()
    response = client.get(URL, headers=headers or {})
    elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
    if response.status_code != 200:
        raise RuntimeError(f"GET {URL} answered {response.status_code}: {response.content[:300]!r}")
    return elapsed, cpu, response.content


def _check_page(content: bytes, rows: int, partial: bool) -> None:
    shown = content.count(b'id="ctr-')
    expected = Container.objects.exclude(state=Container.State.REMOVED).count()
    if shown != expected:
        raise RuntimeError(f"the page shows {shown} rows, expected {expected} (of {rows})")
    is_page = b"<html" in content.lower()
    if partial == is_page:
        raise RuntimeError(f"expected {'the table only' if partial else 'a whole page'}, got the other")


def _queries(client: Client, headers: dict | None) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        client.get(URL, headers=headers or {})
    return [q["sql"] for q in captured.captured_queries]


def _profile(client: Client, headers: dict | None, label: str, repeat: int = 5) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        client.get(URL, headers=headers or {})
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative")
    out.write(f"=== cProfile: {label}, {repeat} requests, sorted by cumulative time ===\n")
    stats.print_stats(30)
    out.write(f"=== {label}: sorted by own time ===\n")
    stats.sort_stats("tottime").print_stats(20)
    return out.getvalue()


def run(*, rows: int = 500, quick: bool = False, profile: bool = False) -> list[dict]:
    warmups, runs = (2, 10) if quick else (3, 20)
    sizes = sorted({max(1, rows // 10), rows})
    client = Client(HTTP_HOST="localhost")
    results: list[dict] = [{"section": f"Containers page (GET {URL}, {HOSTS} hosts)"}]
    query_keys: dict[str, str] = {}
    for size in sizes:
        print(f"bench: pages: {size} rows ...", flush=True)
        links = populate(size)
        client.force_login(_admin())
        for kind, headers in (("full", None), ("partial", PARTIAL_HEADERS)):
            for _ in range(warmups):
                *_, content = _get(client, headers)
            _check_page(content, size, partial=headers is not None)
            timed = [_get(client, headers) for _ in range(runs)]
            queries = _queries(client, headers)
            is_target_size = size == rows
            target = (FULL_TARGET_MS if kind == "full" else PARTIAL_TARGET_MS) if is_target_size else None
            label = "full page" if kind == "full" else "htmx partial (HX-Target: container-table)"
            results.append({
                "key": f"pages.{kind}.{size}", "label": f"{label}, {size} rows", "rows": size, "tag_links": links,
                "samples": [t[0] for t in timed], "cpu_samples": [t[1] for t in timed],
                "target_ms": target, "target_on": "median", "bytes": len(content),
            })  # fmt: skip
            query_key = f"pages.{kind}.{size}.queries"
            entry = {"key": query_key, "label": f"  SQL queries, {kind}, {size} rows", "value": len(queries),
                     "unit": "queries", "sql": queries}  # fmt: skip
            if kind in query_keys:
                entry["must_equal"] = query_keys[kind]
            else:
                query_keys[kind] = query_key
            results.append(entry)
            if profile and is_target_size:
                print(_profile(client, headers, f"{label}, {size} rows"))
    return results
