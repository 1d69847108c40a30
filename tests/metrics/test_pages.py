"""What users see of the metrics on the pages, and the settings page."""

from __future__ import annotations

import re

import pytest
from django_celery_beat.models import PeriodicTask

from apps.containers.models import Container
from apps.core.models import Event
from apps.hosts.models import Host
from apps.metrics import collector, store
from apps.metrics.models import MetricsSettings
from tests.dockerenv.image import READY_MARK
from tests.dockerenv.plugin import wait_for_log
from tests.fixtures import sync_inventory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def swept_holder(online_host, run_container):
    """A container holding 100 MB under a 256 MB limit, read by two sweeps."""
    holder = run_container("mem", "100", name="holder", mem_limit="256m")
    wait_for_log(holder, READY_MARK)
    sync_inventory(online_host)
    collector.sweep_host(online_host)
    collector.sweep_host(online_host)
    return Container.objects.get(name=holder.name)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_containers_table_shows_cpu_and_memory(client_for, viewer, swept_holder):
    html = client_for(viewer).get("/containers/").content.decode()
    assert "<th" in html and ">CPU<" in html and ">Memory<" in html
    cell = re.search(rf'<td class="num metric" id="ctr-mem-{swept_holder.pk}">(.*?)</td>', html).group(1)
    mebibytes = float(re.match(r"([\d.]+) MiB", cell).group(1))
    percent_of_limit = int(re.search(r"(\d+) %", cell).group(1))
    assert 90 <= mebibytes <= 115 and 35 <= percent_of_limit <= 45, cell


def test_the_dashboard_shows_the_kpi_bar_and_live_host_cards(
    client_for, viewer, online_host, swept_holder, run_container
):
    run_container(name="finished").stop(timeout=1)
    sync_inventory(online_host)
    page = text_of(client_for(viewer).get("/").content.decode())
    stopped = Container.objects.filter(state="exited").count()  # this one, and any other on the shared daemon
    assert stopped >= 1 and re.search(rf"\b{stopped} stopped\b", page)
    assert re.search(r"1 ?/ ?1 hosts online", page)
    for label in ("running", "stopped", "unhealthy", "alerts firing", "updates available"):
        assert label in page
    assert "holder" in page  # among the host's busiest containers
    assert re.search(r"CPU [\d.]+ %", page) and re.search(r"Memory [\d.]+ %", page)


def test_the_container_page_shows_its_latest_figures(client_for, viewer, swept_holder):
    page = text_of(client_for(viewer).get(f"/containers/{swept_holder.pk}/").content.decode())
    assert re.search(r"Memory [\d.]+ MiB of 256.0 MiB", page), page


def test_the_host_page_shows_the_machine(client_for, viewer, online_host, swept_holder):
    page = text_of(client_for(viewer).get(f"/hosts/{online_host.pk}/").content.decode())
    assert re.search(r"Load [\d.]+", page) and re.search(r"Disk / [\d.]+ %", page), page


def test_settings_change_the_schedule_and_are_audited(client_for, admin):
    response = client_for(admin).post(
        "/settings/metrics/", {"interval_seconds": 15, "history_enabled": "", "retention_days": 30}, follow=True
    )
    assert "Metrics settings saved." in response.content.decode()
    settings = MetricsSettings.load()
    assert (settings.interval_seconds, settings.history_enabled, settings.retention_days) == (15, False, 30)
    sweep = PeriodicTask.objects.get(task="metrics.sweep")
    assert (sweep.interval.every, sweep.expire_seconds) == (15, 15)
    event = Event.objects.get(action="settings.change")
    assert event.details["interval_seconds"] == {"from": 5, "to": 15}


@pytest.mark.parametrize("interval", [1, 601])
def test_an_interval_out_of_range_is_refused(client_for, admin, interval):
    response = client_for(admin).post("/settings/metrics/", {"interval_seconds": interval, "retention_days": 90})
    assert response.status_code == 200 and "Ensure this value is" in response.content.decode()
    assert MetricsSettings.load().interval_seconds == 5


def test_viewers_cannot_change_settings(client_for, viewer):
    assert (
        client_for(viewer).post("/settings/metrics/", {"interval_seconds": 2, "retention_days": 1}).status_code == 403
    )
    assert MetricsSettings.load().interval_seconds == 5


def test_a_tls_host_page_says_why_it_shows_container_totals_only(client_for, viewer, tls_host):
    tls_host.status = "online"
    tls_host.save()
    collector.sweep_host(tls_host)
    page = text_of(client_for(viewer).get(f"/hosts/{tls_host.pk}/").content.decode())
    assert "Totals of the containers only" in page and "run the DockMon agent on that machine" in page


def test_a_deleted_hosts_live_figures_go_with_it(client_for, admin, online_host, swept_holder):
    assert store.latest(online_host.pk)
    client_for(admin).post(f"/hosts/{online_host.pk}/delete/")
    assert not Host.objects.filter(pk=online_host.pk).exists()
    assert store.latest(online_host.pk) == {} and store.recent(online_host.pk) == []
