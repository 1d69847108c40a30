"""Adding a host and watching its containers live, in a real browser."""

from __future__ import annotations

import re
import subprocess

import pytest
from playwright.sync_api import Page, expect

from tests.dockerenv.image import READY_MARK
from tests.dockerenv.plugin import docker_host, wait_for_log
from tests.e2e.test_browser import ensure_admin
from tests.live import LiveDockMon

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def add_local_host(page: Page, live: LiveDockMon) -> None:
    page.goto(f"{live.url}/hosts/")
    if page.locator(".host-card", has_text="e2e-local").count():
        return
    page.goto(f"{live.url}/hosts/add/")
    page.fill("#id_name", "e2e-local")
    page.check("input[name=kind][value=socket]")
    page.fill("#id_url", docker_host())
    page.click("#test-connection")
    expect(page.locator("#test-ok")).to_contain_text("Connected.")
    page.click("#host-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/hosts/\d+/$"))


def test_a_container_stopped_on_the_command_line_changes_live(page: Page, live_dockmon: LiveDockMon, run_container):
    ensure_admin(page, live_dockmon)
    add_local_host(page, live_dockmon)
    page.goto(f"{live_dockmon.url}/containers/")
    expect(page.locator("body")).to_have_attribute("data-live", "on")
    c = run_container("forever", name="e2e-live")  # created while the page is open: its row appears by itself
    wait_for_log(c, READY_MARK)
    row = page.locator("tr", has_text=c.name)
    expect(row.locator("[data-state]")).to_have_text("running", timeout=15000)

    subprocess.run(["docker", "stop", c.name], check=True, capture_output=True)
    expect(row.locator("[data-state]")).to_have_text("exited", timeout=5000)

    row.get_by_title("Start").click()  # the actor's own row is swapped in place
    expect(row.locator("[data-state]")).to_have_text("running")
    c.reload()
    assert c.status == "running"


def test_a_wrong_client_certificate_is_refused_in_the_form(
    page: Page, live_dockmon: LiveDockMon, running_tls_daemon, tls_certs
):
    ensure_admin(page, live_dockmon)
    page.goto(f"{live_dockmon.url}/hosts/add/")
    page.fill("#id_name", "e2e-remote")
    page.check("input[name=kind][value=tls]")
    page.fill("#id_url", running_tls_daemon.base_url)
    page.fill("#id_tls_ca", tls_certs.ca.cert)
    page.fill("#id_tls_cert", tls_certs.rogue_client.cert)
    page.fill("#id_tls_key", tls_certs.rogue_client.key)
    page.click("#test-connection")
    expect(page.locator("#test-error")).to_contain_text("Could not connect.")
    page.fill("#id_tls_cert", tls_certs.client.cert)
    page.fill("#id_tls_key", tls_certs.client.key)
    page.click("#test-connection")
    expect(page.locator("#test-ok")).to_contain_text("Connected.")
