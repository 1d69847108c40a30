"""The history charts of the host and container pages, in a real browser against DockMon started by scripts/run.

History rows are written into the live server's database and its pushes sent by its own code (`manage.py
shell` with the server's environment). The host is an agent host no agent ever connects to, so nothing but
the test adds points to its series (and the container, stopped, has history but no current figures).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.test_browser import ensure_admin
from tests.e2e.test_containers import add_local_host
from tests.live import ROOT, LiveDockMon

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MiB = 1024 * 1024
# Tier 0 (6 s buckets): a steady stretch from 45 to 15 minutes ago, 300 buckets.
RECENT = {"cpu": (12.5, 30.0), "mem": (50 * MiB, 60 * MiB), "memp": (2.5, 3.0), "rx": (2048.0, 4096.0),
          "tx": (1024.0, 1024.0), "rd": (0.0, 0.0), "wr": (512.0, 512.0), "pids": (3.0, 3.0),
          "load": (0.75, 1.5), "disk": (42.0, 42.0)}  # fmt: skip
RECENT_BUCKETS = 300
# Tier 1 (150 s buckets): from 20 to 10 hours ago, only in the 24-hour range.
EARLIER = {**RECENT, "cpu": (77.7, 90.0), "load": (3.25, 4.0)}
EARLIER_BUCKETS = 240

SEED = """
import json
from apps.containers.models import Container
from apps.hosts.models import Host
from apps.metrics.models import MetricPoint
spec = json.loads({spec!r})
host = Host.objects.create(name=spec["name"], kind=Host.Kind.AGENT)
container = Container.objects.create(host=host, name=spec["name"] + "-app", docker_id=spec["docker_id"],
                                     image="busybox:latest", state=Container.State.EXITED)
rows = []
for tier, start, step, count, values in spec["series"]:
    fields = {{f"{{name}}_avg": avg for name, (avg, _) in values.items()}}
    fields.update({{f"{{name}}_max": top for name, (_, top) in values.items()}})
    for i in range(count):
        for container_id in (None, container.pk):
            rows.append(MetricPoint(tier=tier, host=host, container_id=container_id, bucket=start + i * step,
                                    samples=1, **fields))
MetricPoint.objects.bulk_create(rows, batch_size=500)
print(json.dumps({{"host": host.pk, "container": container.pk}}))
"""

PUSH = """
from apps.core.live import push_html
from apps.metrics.live import feed
push_html({group!r}, feed({kind!r}, {pk!r}, {at!r}, {values!r}))
"""


def live_shell(live: LiveDockMon, code: str) -> str:
    """Run Python inside the live server's project and environment (its database, its Redis prefix)."""
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=live.env(),
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclass(frozen=True)
class Seeded:
    host: int
    container: int
    now: float

    @property
    def recent_middle(self) -> float:
        return self.now - 30 * 60

    @property
    def earlier_middle(self) -> float:
        return self.now - 15 * 3600


@pytest.fixture
def seeded(live_dockmon: LiveDockMon) -> Iterator[Seeded]:
    now = time.time()
    recent_start = int((now - 45 * 60) // 6 * 6)
    earlier_start = int((now - 20 * 3600) // 150 * 150)
    name = f"e2e-charts-{uuid.uuid4().hex[:6]}"
    spec = {
        "name": name,
        "docker_id": uuid.uuid4().hex * 2,
        "series": [[0, recent_start, 6, RECENT_BUCKETS, RECENT], [1, earlier_start, 150, EARLIER_BUCKETS, EARLIER]],
    }
    pks = json.loads(live_shell(live_dockmon, SEED.format(spec=json.dumps(spec))).strip().splitlines()[-1])
    yield Seeded(host=pks["host"], container=pks["container"], now=now)
    live_shell(live_dockmon, f"from apps.hosts.models import Host; Host.objects.filter(pk={pks['host']}).delete()")


def push_point(live: LiveDockMon, kind: str, pk: int, at: float, **values: float) -> None:
    """What a sweep sends a host's or a container's page: its point, into the charts' feed."""
    live_shell(live, PUSH.format(group=f"{kind}-{pk}", kind=kind, pk=pk, at=at, values=values))


def chart(page: Page, key: str) -> Locator:
    return page.locator(f'.charts figure[data-chart="{key}"]')


def hover_at(page: Page, key: str, moment: float | None) -> None:
    """Point at `moment` (seconds since 1970) on a chart; None: its right edge, the newest point."""
    figure = chart(page, key)
    figure.scroll_into_view_if_needed()
    box = figure.locator(".u-over").bounding_box()
    charts = page.locator(".charts")
    start, end = float(charts.get_attribute("data-from")), float(charts.get_attribute("data-to"))
    share = 0.999 if moment is None else (moment - start) / (end - start)
    page.mouse.move(box["x"] + share * box["width"], box["y"] + box["height"] / 2)


def legend(page: Page, key: str) -> Locator:
    return chart(page, key).locator(".u-legend .u-series").nth(1).locator(".u-value")


def script_errors(page: Page) -> list[str]:
    """Uncaught errors of the page's scripts, collected from now on."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def choose_range(page: Page, label: str) -> None:
    with page.expect_response(lambda r: "/metrics/" in r.url and f"range={label}" in r.url) as answer:
        page.locator(f'.charts button[data-range="{label}"]').click()
    assert answer.value.status == 200
    expect(page.locator(".charts")).to_have_attribute("data-range", label)


def test_container_history_hover_range_and_live_points(page: Page, live_dockmon: LiveDockMon, seeded: Seeded):
    errors = script_errors(page)
    ensure_admin(page, live_dockmon)
    with page.expect_response(lambda r: f"/metrics/containers/{seeded.container}/?range=1h" in r.url):
        page.goto(f"{live_dockmon.url}/containers/{seeded.container}/")
    charts = page.locator(".charts")
    expect(charts).to_have_attribute("data-state", "ready")
    expect(charts).to_have_attribute("data-points", str(RECENT_BUCKETS))
    expect(page.locator('.charts button[data-range="1h"]')).to_have_attribute("aria-pressed", "true")
    expect(charts.locator("figure.chart")).to_have_count(4)  # CPU, memory, network, disk I/O: no host-only charts
    expect(chart(page, "cpu").locator("canvas")).to_be_visible()

    # Hovering one chart shows that moment's values in all of them, with units.
    hover_at(page, "cpu", seeded.recent_middle)
    expect(legend(page, "cpu")).to_have_text("12.5 % (max 30.0 %)")
    expect(legend(page, "mem")).to_have_text("50.0 MiB (max 60.0 MiB) · 2.5 %")
    expect(legend(page, "net")).to_have_text("2.0 KiB/s (max 4.0 KiB/s)")

    # A longer range is fetched again, from the coarser tier.
    choose_range(page, "24h")
    expect(charts).to_have_attribute("data-state", "ready")
    hover_at(page, "cpu", seeded.earlier_middle)
    expect(legend(page, "cpu")).to_have_text("77.7 % (max 90.0 %)")
    expect(page.locator('.charts button[data-range="1h"]')).to_have_attribute("aria-pressed", "false")

    # Nothing in the last 5 minutes; then the points the server pushes after each sweep are drawn as they come.
    choose_range(page, "5m")
    expect(charts).to_have_attribute("data-state", "empty")
    expect(charts.locator(".charts-status")).to_have_text("No data for this range yet.")
    expect(page.locator("body")).to_have_attribute("data-live", "on")
    at = time.time()
    push_point(live_dockmon, "container", seeded.container, at, cpu=55.5, mem=64 * MiB, memp=4.0)
    expect(charts).to_have_attribute("data-state", "ready")
    expect(charts).to_have_attribute("data-points", "1")
    push_point(live_dockmon, "container", seeded.container, at + 5, cpu=44.4, mem=65 * MiB, memp=4.1)
    expect(charts).to_have_attribute("data-points", "2")
    hover_at(page, "cpu", None)
    expect(legend(page, "cpu")).to_have_text("44.4 %")  # one sample: no separate maximum
    expect(legend(page, "mem")).to_have_text("65.0 MiB · 4.1 %")
    assert errors == []


def test_host_history_has_load_and_disk_follows_the_theme_and_reports_errors(
    page: Page, live_dockmon: LiveDockMon, seeded: Seeded
):
    errors = script_errors(page)
    ensure_admin(page, live_dockmon)
    page.goto(f"{live_dockmon.url}/hosts/{seeded.host}/")
    charts = page.locator(".charts")
    expect(charts).to_have_attribute("data-state", "ready")
    expect(charts).to_have_attribute("data-points", str(RECENT_BUCKETS))
    expect(charts.locator("figure.chart")).to_have_count(6)
    hover_at(page, "load", seeded.recent_middle)
    expect(legend(page, "load")).to_have_text("0.75 (max 1.50)")
    expect(legend(page, "disk")).to_have_text("42.0 %")
    expect(legend(page, "cpu")).to_have_text("12.5 % (max 30.0 %)")

    # The charts are drawn again in the other theme's colours.
    theme = page.locator("html").get_attribute("data-theme")
    drawn = charts.get_attribute("data-drawn-theme")
    assert drawn in {"light", "dark"}, theme
    page.click("#theme-toggle")
    expect(page.locator("html")).not_to_have_attribute("data-theme", theme)
    expect(charts).to_have_attribute("data-drawn-theme", "light" if drawn == "dark" else "dark")
    expect(chart(page, "cpu").locator("canvas")).to_be_visible()

    # Narrower window, narrower charts (still two columns above 860 px).
    width = chart(page, "cpu").locator("canvas").bounding_box()["width"]
    page.set_viewport_size({"width": 1000, "height": 860})
    page.wait_for_function(
        "w => document.querySelector('.charts figure[data-chart=cpu] canvas').getBoundingClientRect().width < w",
        arg=width - 50,
    )

    # A failed fetch says why instead of showing stale lines.
    page.route("**/metrics/hosts/**", lambda route: route.fulfill(status=400, json={"error": "Bad range."}))
    page.locator('.charts button[data-range="6h"]').click()
    expect(charts).to_have_attribute("data-state", "error")
    expect(charts.locator(".charts-status")).to_contain_text("Bad range.")
    expect(charts.locator("figure.chart")).to_have_count(0)
    page.unroute("**/metrics/hosts/**")
    choose_range(page, "1h")
    expect(charts).to_have_attribute("data-state", "ready")
    expect(charts).to_have_attribute("data-points", str(RECENT_BUCKETS))
    assert errors == []


def test_the_sweeps_of_a_real_host_are_appended_to_its_open_chart(page: Page, live_dockmon: LiveDockMon):
    ensure_admin(page, live_dockmon)
    add_local_host(page, live_dockmon)
    page.goto(f"{live_dockmon.url}/hosts/")
    page.locator(".host-card", has_text="e2e-local").locator("h2 a").click()
    charts = page.locator(".charts")
    expect(charts).not_to_have_attribute("data-state", "loading")
    expect(page.locator("body")).to_have_attribute("data-live", "on")
    before = charts.get_attribute("data-points")
    # Metrics are collected every 5 s; each sweep pushes the host's point to the open page. The wait is long
    # because a busy shared Docker engine (a hundred containers) can make sweeps and the page slow.
    expect(charts).not_to_have_attribute("data-points", before, timeout=45000)
    expect(charts).to_have_attribute("data-state", "ready")
    assert int(charts.get_attribute("data-points")) > int(before)
