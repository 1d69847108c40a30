"""The collector against the real daemon: figures, history, live pushes, and one sweep per host at a time."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from celery.contrib.testing.worker import start_worker
from channels.testing import WebsocketCommunicator
from django.db import connections

from apps.containers.models import Container
from apps.core.redis_client import shared_redis
from apps.hosts.engines import engine_for
from apps.metrics import collector, live, store
from apps.metrics.models import MetricPoint
from apps.metrics.tasks import sweep as sweep_task
from apps.metrics.tasks import sweep_host as sweep_host_task
from dockmon.asgi import application
from dockmon.celery import app as celery_app
from tests.dockerenv.image import READY_MARK
from tests.dockerenv.plugin import wait_for_log
from tests.fixtures import session_cookie, sync_inventory

pytestmark = pytest.mark.django_db(transaction=True)


def docker_stats(name: str) -> dict:
    command = ["docker", "stats", "--no-stream", "--format", "{{json .}}", name]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def test_figures_match_docker_stats(online_host, run_container):
    busy = run_container("cpu", "1", name="busy", nano_cpus=500_000_000)
    holder = run_container("mem", "100", name="holder", mem_limit="256m")
    wait_for_log(holder, READY_MARK)
    time.sleep(1)
    sync_inventory(online_host)
    collector.sweep_host(online_host)  # the first reading has no CPU % yet
    # docker stats measures over the same seconds as our two readings, so a busy machine moves both alike.
    with ThreadPoolExecutor(1) as pool:
        reference = pool.submit(docker_stats, busy.name)
        time.sleep(1.5)
        collector.sweep_host(online_host)
        reference_cpu = float(reference.result()["CPUPerc"].rstrip("%"))
    latest = store.latest(online_host.pk)
    busy_row, holder_row = (Container.objects.get(name=c.name) for c in (busy, holder))
    cpu = latest[f"c:{busy_row.pk}"]["cpu"]
    assert 30 <= cpu <= 62, cpu  # half a CPU: 50 % when the machine is idle; one CPU's share would be 25 %
    assert abs(cpu - reference_cpu) < 12, (cpu, reference_cpu)
    memory = latest[f"c:{holder_row.pk}"]["mem"] / 2**20
    assert 90 <= memory <= 115, memory
    assert latest[f"c:{holder_row.pk}"]["limit"] == 256 * 2**20
    assert latest["host"]["cpu"] is not None and latest["host"]["containers_mem"] >= 90 * 2**20


def test_a_sweep_keeps_history_one_insert_per_bucket(online_host, run_container):
    run_container(name="quiet")
    sync_inventory(online_host)
    for _ in range(3):
        collector.sweep_host(online_host)
        time.sleep(3)
    assert MetricPoint.objects.filter(host=online_host, tier=0, container=None).exists()
    buckets = MetricPoint.objects.filter(host=online_host, tier=0, container=None).values_list("bucket", flat=True)
    assert len(buckets) == len(set(buckets))


def _worker_process(name: str, spans_key: str, attempts_key: str) -> None:
    """A Celery worker of its own (a forked process, as a second machine's would be) whose sweeps take long
    enough for the other worker to try the same host meanwhile; it reports to Redis what it did."""
    for connection in connections.all(initialized_only=True):
        # The parent's socket to PostgreSQL is not ours to use: connect anew. (An in-memory SQLite test
        # database exists only in the copy of the parent's memory: keep it.)
        if connection.vendor != "sqlite":
            connection.connection = None
    client = shared_redis()
    real_sweep, real_sweep_host = collector._sweep, collector.sweep_host

    def slow_sweep(*args, **kwargs):
        start = time.time()
        try:
            time.sleep(0.5)
            return real_sweep(*args, **kwargs)
        finally:
            client.rpush(spans_key, json.dumps([start, time.time()]))

    def reported(host):
        result = real_sweep_host(host)
        client.rpush(attempts_key, json.dumps([name, result is not None]))
        return result

    collector._sweep, collector.sweep_host = slow_sweep, reported
    celery_app.conf.worker_prefetch_multiplier = 1  # one task at a time: the two share the queue
    with start_worker(celery_app, pool="solo", perform_ping_check=False, hostname=f"{name}@test"):
        time.sleep(3600)  # until the test ends this process


def test_two_workers_never_sweep_one_host_at_once(online_host, run_container, settings):
    run_container(name="shared")
    spans_key, attempts_key = f"{settings.REDIS_PREFIX}:test:spans", f"{settings.REDIS_PREFIX}:test:attempts"
    client = shared_redis()
    client.delete(spans_key, attempts_key)
    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=_worker_process, args=(name, spans_key, attempts_key)) for name in ("one", "two")]
    try:
        for worker in workers:
            worker.start()
        for _ in range(8):
            sweep_host_task.delay(online_host.pk)
        deadline = time.monotonic() + 60
        while client.llen(attempts_key) < 8 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        for worker in workers:
            worker.kill()
            worker.join()
    attempts = [json.loads(item) for item in client.lrange(attempts_key, 0, -1)]
    spans = sorted(json.loads(item) for item in client.lrange(spans_key, 0, -1))
    client.delete(spans_key, attempts_key)
    assert len(attempts) == 8
    assert {name for name, _ in attempts} == {"one", "two"}, "both workers took tasks"
    assert any(not swept for _, swept in attempts), "the workers never met at the lock"
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        assert next_start >= end, "two sweeps of one host overlapped"


def test_nothing_is_rendered_for_groups_nobody_watches(online_host, run_container, monkeypatch):
    run_container(name="unseen")
    rendered = []
    monkeypatch.setattr(live, "render_to_string", lambda *a, **k: rendered.append(a[0]) or "")
    collector.sweep_host(online_host)
    assert rendered == []


@pytest.fixture
def cookie_for(client_for):
    return lambda user: session_cookie(client_for(user))


async def test_watching_sockets_receive_the_sweeps_fragments(online_host, run_container, viewer, cookie_for):
    c = run_container(name="watched")
    await sync_to_async(sync_inventory)(online_host)
    await sync_to_async(collector.sweep_host)(online_host)
    row = await sync_to_async(Container.objects.get)(name=c.name)
    cookie = await sync_to_async(cookie_for)(viewer)
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), (b"cookie", cookie)]
    table = WebsocketCommunicator(application, "/ws/live/?watch=containers", headers=headers)
    page = WebsocketCommunicator(application, f"/ws/live/?watch=container:{row.pk}", headers=headers)
    elsewhere = WebsocketCommunicator(application, "/ws/live/?watch=events", headers=headers)
    for socket in (table, page, elsewhere):
        assert (await socket.connect())[0]
    await sync_to_async(collector.sweep_host)(online_host)
    cells = await table.receive_from(timeout=10)
    assert f'id="ctr-cpu-{row.pk}"' in cells and f'id="ctr-mem-{row.pk}"' in cells
    detail = await page.receive_from(timeout=10)
    assert f'id="ctr-now-{row.pk}"' in detail and f'id="feed-ctr-{row.pk}"' in detail
    assert await elsewhere.receive_nothing(timeout=1)  # a viewer of the events gets no metrics
    for socket in (table, page, elsewhere):
        await socket.disconnect()


def test_a_container_that_stops_during_the_sweep_is_left_out(online_host, run_container):
    c = run_container(name="leaving")
    sync_inventory(online_host)
    c.stop(timeout=1)  # DockMon still thinks it runs
    result = collector.sweep_host(online_host)
    assert result is not None
    row = Container.objects.get(name=c.name)
    assert f"c:{row.pk}" not in store.latest(online_host.pk)


def test_an_unreachable_host_sweep_ends_quietly(local_host):
    local_host.url = "unix:///nonexistent/docker.sock"
    local_host.status = "online"
    local_host.save()
    result = collector.sweep_host(local_host)
    assert result is not None and result.containers == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("range=forever", "forever"),
        ("from=2026-01-02&to=2026-01-01", "start of the range"),
        ("from=yesterday", "not a time"),
        ("from=nan", "not a time"),
        ("from=1&to=inf", "not a time"),
        ("from=2999-01-01", "before now"),
    ],
)
def test_nonsense_ranges_are_refused_clearly(client_for, viewer, online_host, query, message):
    response = client_for(viewer).get(f"/metrics/hosts/{online_host.pk}/?{query}")
    assert response.status_code == 400 and message in response.json()["error"]


def test_series_answer_for_a_range(client_for, viewer, online_host):
    body = client_for(viewer).get(f"/metrics/hosts/{online_host.pk}/?range=24h").json()
    assert body["tier"] == 1 and body["step"] == 150 and "cpu" in body["columns"]


def test_beats_sweep_reaches_every_online_host_and_skips_offline_ones(online_host, tls_host, celery_worker):
    tls_host.status = "offline"
    tls_host.save()
    assert sweep_task() == 1  # one task started, for the online host
    deadline = time.monotonic() + 20
    while not store.latest(online_host.pk) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store.latest(online_host.pk)["host"]["cpu"] is not None
    assert store.latest(tls_host.pk) == {}


def test_a_hosts_engine_serves_sweep_after_sweep_until_its_settings_change(tls_host, monkeypatch):
    tls_host.status = "online"
    tls_host.save()
    opened = []
    monkeypatch.setattr(collector, "engine_for", lambda host: opened.append(host.url) or engine_for(host))
    for _ in range(3):
        collector.sweep_host(tls_host)
    assert len(opened) == 1  # its connections (and TLS handshakes) outlive a sweep
    first_url = tls_host.url
    tls_host.url = first_url.replace("127.0.0.1", "localhost")  # the same daemon, other settings
    collector.sweep_host(tls_host)
    assert opened == [first_url, tls_host.url]
    tls_host.url = "tcp://127.0.0.1:9"  # nothing listens: the sweep fails quietly and forgets the engine
    assert collector.sweep_host(tls_host).containers == 0
    tls_host.url = first_url
    collector.sweep_host(tls_host)
    assert opened[-1] == first_url and len(opened) == 4
    assert store.latest(tls_host.pk)["host"]["machine_note"]
